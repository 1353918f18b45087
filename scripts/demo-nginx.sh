#!/usr/bin/env bash
# Starts (or reuses) a local nginx-rtmp ingest on 127.0.0.1:1935 for `make run`.
set -euo pipefail
dir=$(mkdir -p "${1:-target/demo-nginx}" && cd "${1:-target/demo-nginx}" && pwd)
if [ -f "$dir/nginx.pid" ] && kill -0 "$(cat "$dir/nginx.pid")" 2>/dev/null; then
  echo "nginx-rtmp already running on 127.0.0.1:1935"
  exit 0
fi
module=$(ls /usr/lib/nginx/modules/ngx_rtmp_module.so)
cat > "$dir/nginx.conf" <<CONF
load_module $module;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {}
rtmp {
  server {
    listen 127.0.0.1:1935;
    application live { live on; record off; }
  }
}
CONF
nginx -p "$dir" -c "$dir/nginx.conf"
echo "nginx-rtmp started on 127.0.0.1:1935 (stop: make clean-demo)"

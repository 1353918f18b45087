# playout — `make run` plays the demo channel, `make test` runs every test.
# Both install what is missing first (Debian packages; apt-get as root, else sudo).

DEBS := libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev libavdevice-dev \
        libswscale-dev libswresample-dev clang libclang-dev pkg-config ffmpeg \
        nginx libnginx-mod-rtmp libnginx-mod-stream fonts-dejavu-core openssl prometheus
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_MEDIA := demo-media
DEMO_NGINX := target/demo-nginx

.PHONY: deps build run test bench soak demo-media lint clean-demo

deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first"; exit 1; }

build: deps
	cargo build --release

demo-media: deps
	@scripts/demo-media.sh $(DEMO_MEDIA)

run: build demo-media
	@scripts/demo-nginx.sh $(DEMO_NGINX)
	@echo
	@echo "Playing playlists/demo.channel.yaml into rtmp://127.0.0.1:1935/live/demo"
	@echo "  watch:   ffplay rtmp://127.0.0.1:1935/live/demo"
	@echo "  metrics: http://127.0.0.1:9100/metrics   health: http://127.0.0.1:9100/healthz"
	@echo "  stop:    Ctrl-C"
	@echo
	target/release/playout run playlists/demo.channel.yaml

lint: deps
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

test: lint
	cargo test --all-targets

# Not part of `make test`: minutes of 720p encoding, printed as a table (see README, Performance).
bench: deps
	cargo bench --bench channel

# 24 hours of channel time, unpaced, into a local nginx-rtmp (17 minutes on 2 cores); the
# 2-hour version of the same runs in `make test`.
soak: deps
	cargo test --release --test soak -- --ignored --nocapture --test-threads=1

clean-demo:
	-@[ -f $(DEMO_NGINX)/nginx.pid ] && kill $$(cat $(DEMO_NGINX)/nginx.pid)
	rm -rf $(DEMO_MEDIA) $(DEMO_NGINX)

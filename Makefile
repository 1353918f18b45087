# playout — `make run` plays the demo host (three channels), `make test` runs every test.
# Both install what is missing first (Debian packages; apt-get as root, else sudo).

DEBS := libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev libavdevice-dev \
        libswscale-dev libswresample-dev clang libclang-dev pkg-config ffmpeg \
        nginx libnginx-mod-rtmp libnginx-mod-stream fonts-dejavu-core openssl prometheus \
        chromium wrk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The API fuzzer `make test` runs against the OpenAPI file (tests/schemathesis.rs).
SCHEMATHESIS := 4.32.5
# The Kubernetes manifests' schema checker (tests/kubernetes.rs; deploy/kubernetes).
KUBERNETES_VALIDATE := 1.33.1
# The test runner of `make test` (crates.io; see .config/nextest.toml).
NEXTEST := 0.9.143
DEMO_MEDIA := demo-media
DEMO_NGINX := target/demo-nginx
# What `make run` plays: a folder of channels (a host), or one channel file
# (`make run CHANNEL=playlists/demo.channel.yaml`).
CHANNEL := playlists/demo-host
# The console's token for the demo when PLAYOUT_API_TOKEN is unset: made once, kept here.
DEMO_TOKEN := target/demo-token

.PHONY: deps build run run-rtmp test bench soak fuzz demo-media lint clean-demo

# Node.js and npm build the web pages (web/), Python runs schemathesis; Debian's packages
# only where none is on PATH.
deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	command -v python3 >/dev/null || missing="$$missing python3 python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first"; exit 1; }
	@cargo nextest --version 2>/dev/null | grep -q "^cargo-nextest $(NEXTEST) " || \
	  cargo install cargo-nextest --version $(NEXTEST) --locked
	@$(MAKE) --no-print-directory web/node_modules/.package-lock.json target/schemathesis/.v$(SCHEMATHESIS) \
	  target/kubernetes-validate/.v$(KUBERNETES_VALIDATE)

# The watch page's packages, exactly as the lock file pins them.
web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

# schemathesis in a virtualenv of its own (Python 3 with venv; python3-venv on Debian).
target/schemathesis/.v$(SCHEMATHESIS):
	@python3 -c 'import venv, ensurepip' 2>/dev/null || $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv
	rm -rf target/schemathesis
	python3 -m venv target/schemathesis
	target/schemathesis/bin/pip install -q --disable-pip-version-check schemathesis==$(SCHEMATHESIS)
	touch $@

# kubernetes-validate (the Kubernetes JSON schemas, offline) in a virtualenv of its own.
target/kubernetes-validate/.v$(KUBERNETES_VALIDATE):
	@python3 -c 'import venv, ensurepip' 2>/dev/null || $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv
	rm -rf target/kubernetes-validate
	python3 -m venv target/kubernetes-validate
	target/kubernetes-validate/bin/pip install -q --disable-pip-version-check kubernetes-validate==$(KUBERNETES_VALIDATE)
	touch $@

build: deps
	cargo build --release

demo-media: deps
	@scripts/demo-media.sh $(DEMO_MEDIA)

# The demo host: three channels of different shapes (the demo channel, a vertical one, one
# that plays conformed copies), each to its built-in HLS output, behind one port.
$(DEMO_TOKEN):
	@mkdir -p $(dir $@)
	@umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > $@

run: build demo-media $(DEMO_TOKEN)
	@token=$${PLAYOUT_API_TOKEN:-$$(cat $(DEMO_TOKEN))}; \
	if [ -d "$(CHANNEL)" ]; then \
	  echo; echo "Playing every channel of $(CHANNEL)/, each its own process"; \
	  echo "  channels: http://127.0.0.1:9100/   (each one's watch page at /c/ID/)"; \
	  echo "  console:  http://127.0.0.1:9100/console   token: $$token"; \
	  echo "  IPTV:     http://127.0.0.1:9100/playlist.m3u and /epg.xml"; \
	  echo "  metrics:  http://127.0.0.1:9100/metrics   health: http://127.0.0.1:9100/healthz"; \
	  echo "  stop:     Ctrl-C"; echo; \
	else \
	  echo; echo "Playing $(CHANNEL) to its outputs"; \
	  echo "  open http://127.0.0.1:9100/ (the watch page, if its http.listen is that)"; \
	  echo "  stop: Ctrl-C"; echo; \
	fi; \
	mkdir -p target/demo-host; \
	PLAYOUT_API_TOKEN=$$token target/release/playout run $(CHANNEL)

# The same channel into a local nginx-rtmp as well (outputs given on the command line).
run-rtmp: build demo-media
	@scripts/demo-nginx.sh $(DEMO_NGINX)
	@echo
	@echo "Playing playlists/demo.channel.yaml to HLS and rtmp://127.0.0.1:1935/live/demo"
	@echo "  open http://127.0.0.1:9100/   or: ffplay rtmp://127.0.0.1:1935/live/demo"
	@echo "  stop:    Ctrl-C"
	@echo
	target/release/playout run playlists/demo.channel.yaml \
	  --output hls:target/demo-hls --output rtmp://127.0.0.1:1935/live/demo

lint: deps
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

# Every test, the paced ones side by side (.config/nextest.toml); then the bench, once,
# small (it has its own main, which nextest does not run).
test: lint
	cargo nextest run --lib --bins --tests
	cargo test --bench channel --bench host

# Not part of `make test`: minutes of 720p encoding, printed as a table (see README, Performance).
bench: deps
	cargo bench --bench channel
	@echo "== Channels on one machine (playout run DIR, from copies and encoding)"
	cargo bench --bench host
	@echo "== HTTP under load (wrk, 200 connections + 500 idle, 30 s, paced channel)"
	@cargo test --release --test load -- --nocapture 2>&1 | grep -E "^(load:|  Latency|     (50|99)%|Requests/sec)"

# 24 hours of channel time, unpaced, into a local nginx-rtmp, encoded (17 minutes on 2 cores)
# and from conformed copies; the 2-hour versions of both run in `make test`.
soak: deps
	cargo test --release --test soak --test soak_passthrough -- --ignored --nocapture --test-threads=1

# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of the parsers and loaders, FUZZ_SECONDS
# each, on the nightly toolchain (rustup's; cargo-fuzz is installed if missing). New inputs
# go to target/fuzz-corpus; the committed seeds in tests/fuzz/corpus are read, and replayed by
# `make test`. A finding is written to tests/fuzz/artifacts/TARGET/: add it to
# tests/fuzz/corpus/TARGET/.
FUZZ_SECONDS ?= 300
FUZZ_TARGETS := duration instant fps url env channel playlist
fuzz: deps
	@rustup run nightly true 2>/dev/null || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p target/fuzz-corpus/$$t; \
	  echo "== $$t ($(FUZZ_SECONDS) s)"; \
	  if (cd tests/fuzz && cargo +nightly fuzz run --fuzz-dir . $$t ../../target/fuzz-corpus/$$t corpus/$$t -- \
	      -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1) > target/fuzz-$$t.log 2>&1; then \
	    grep -E "^(stat::number_of_executed_units|stat::new_units_added|Done)" target/fuzz-$$t.log; \
	  else \
	    tail -40 target/fuzz-$$t.log; echo "fuzz target $$t failed: see target/fuzz-$$t.log"; exit 1; \
	  fi; \
	done

clean-demo:
	-@[ -f $(DEMO_NGINX)/nginx.pid ] && kill $$(cat $(DEMO_NGINX)/nginx.pid)
	rm -rf $(DEMO_MEDIA) $(DEMO_NGINX) target/demo-hls

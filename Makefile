# bnet: `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell scripts/version.sh)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN := bin/bnet

.PHONY: help deps generate build test unit fuzz kselftest lint check-generated clean package shellcheck lab lab-down bench soak test-interop

help: ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

deps: ## install build/test tools on Debian (clang, bpftool, tcpdump, jq, ...)
	@GO=$(GO) scripts/deps.sh

generate: ## compile bpf/*.c and regenerate the committed bpf2go output
	$(GO) generate ./maps

build: ## build bin/bnet (static)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/bnet

test: deps build check-generated shellcheck unit fuzz kselftest ## everything CI runs: Go tests (incl. BPF unit tests) and kselftests

unit: ## Go unit tests, BPF_PROG_TEST_RUN tests included (root)
	$(GO) test -count=1 ./...

FUZZTIME ?= 5s
fuzz: ## every Go fuzz target (BPF programs, API, store, gossip) for FUZZTIME each; longer: make fuzz FUZZTIME=2m
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

test-interop: deps build ## interop kselftests against Debian 12's kernel booted under qemu (gretap, 802.1Q, kernel vxlan peers); installs qemu
	INTEROP=1 scripts/deps.sh
	BNET=$(CURDIR)/$(BIN) kselftest/run.sh $$(cd kselftest && grep -l '^source .*peer\.sh' interop_*.sh)

kselftest: build ## multi-node clouds in netns with real agents and real packets
	BNET=$(CURDIR)/$(BIN) kselftest/run.sh $(TESTS)

check-generated: ## the committed BPF objects match the C sources
	@scripts/check-generated.sh

shellcheck: ## every shell script, warnings and worse
	shellcheck -S warning -x -P kselftest kselftest/*.sh soak/*.sh scripts/*.sh packaging/*.sh vagrant/*.sh bench/*.sh .ci/run
	shellcheck -S warning -s bash packaging/bnet.bash

lint: ## go vet + gofmt
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

lab: deps build ## seed 003's cloud in namespaces on this machine, every traffic class checked; stays up
	BNET=$(CURDIR)/$(BIN) scripts/lab.sh

lab-down: ## remove everything make lab made
	scripts/lab.sh down

bench: deps build ## bnet against veth, a bridge, bridge+VXLAN and a NAT router, in namespaces; bench/results/ (not in make test)
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/bnetbench ./bench/bnetbench
	BNET=$(CURDIR)/$(BIN) BNETBENCH=$(CURDIR)/bin/bnetbench bench/run.sh

soak: build ## long runs, not in make test: every fuzz target for SOAK_FUZZTIME (2m), then ports created and deleted for SOAK_SECONDS (300), maps and memory flat after
	GO=$(GO) FUZZTIME=$(or $(SOAK_FUZZTIME),2m) scripts/fuzz.sh
	BNET=$(CURDIR)/$(BIN) bash soak/ports.sh

package: build ## dist/bnet_<version>_amd64.deb and dist/bnet-<version>-1.x86_64.rpm (nfpm, pinned in go.mod; rpm adds the release)
	@mkdir -p dist
	$(BIN) man | gzip -9n >dist/bnet.8.gz
	rm -f dist/*.deb dist/*.rpm
	BNET_VERSION=$(VERSION) $(GO) tool nfpm package -f packaging/nfpm.yaml -p deb -t dist/
	BNET_VERSION=$(VERSION) $(GO) tool nfpm package -f packaging/nfpm.yaml -p rpm -t dist/
	@ls dist/*.deb dist/*.rpm

clean: ## remove build output
	rm -rf bin dist

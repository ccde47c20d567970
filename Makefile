# bnet: `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN := bin/bnet

.PHONY: help deps generate build test unit kselftest lint check-generated clean

help: ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

deps: ## install build/test tools on Debian (clang, bpftool, tcpdump, jq, ...)
	@scripts/deps.sh

generate: ## compile bpf/*.c and regenerate the committed bpf2go output
	$(GO) generate ./maps

build: ## build bin/bnet (static)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/bnet

test: deps build check-generated unit kselftest ## everything CI runs: Go tests (incl. BPF unit tests) and kselftests

unit: ## Go unit tests, BPF_PROG_TEST_RUN tests included (root)
	$(GO) test -count=1 ./...

kselftest: build ## multi-node clouds in netns with real agents and real packets
	BNET=$(CURDIR)/$(BIN) kselftest/run.sh $(TESTS)

check-generated: ## the committed BPF objects match the C sources
	@scripts/check-generated.sh

lint: ## go vet + gofmt
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

clean: ## remove build output
	rm -rf bin

# airlock: build, test, benchmark.
#
# `make test` installs everything the tests need (skopeo and containerd from
# Debian; cosign v2 and v3, the distribution registry, crane, oras and regctl
# with `go install` at pinned versions into ./tools, cosign v3 as
# ./tools/cosign3; SeaweedFS built from its module source, see $(TOOLS)/weed)
# and runs every test, the end-to-end ones included (as root: the containerd
# tests start a daemon).
# The keyless tests also need a private Sigstore (`make sigstack-tools`:
# Fulcio, Rekor v1 and v2, a TSA, Trillian, MariaDB); `make test-sigstore`
# runs just them.

SHELL := /bin/bash
GO ?= go
export GOTOOLCHAIN := local
TOOLS := $(CURDIR)/tools
export PATH := $(TOOLS):$(PATH)

COSIGN_VERSION   := v2.6.5
COSIGN3_VERSION  := v3.1.3
REGISTRY_VERSION := v3.1.2
CRANE_VERSION    := v0.22.1
ORAS_VERSION     := v1.3.6
REGCTL_VERSION   := v0.11.7
# SeaweedFS: the S3 storage behind the shared-storage registry end-to-end test
# and benchmark. Its go.mod has replace directives, so `go install` refuses it;
# build it from a copy of the module source instead (about 4 minutes on 2
# cores, once: the binary is cached in the tools folder).
WEED_VERSION     := v0.0.0-20261109003541-7506e5f91cd6

.PHONY: all build test unit e2e bench tools bench-tools fuzz vet clean skopeo containerd sigstack-tools test-sigstore mariadb sigstack-fixtures weed

all: build

build:
	$(GO) build ./...

$(TOOLS)/cosign:
	GOBIN=$(TOOLS) $(GO) install github.com/sigstore/cosign/v2/cmd/cosign@$(COSIGN_VERSION)

# cosign v3 is also called `cosign`: it gets its own GOBIN, named by version
# (a version bump rebuilds), and tools/cosign3 points at it.
$(TOOLS)/cosign-$(COSIGN3_VERSION)/cosign:
	GOBIN=$(TOOLS)/cosign-$(COSIGN3_VERSION) $(GO) install github.com/sigstore/cosign/v3/cmd/cosign@$(COSIGN3_VERSION)

$(TOOLS)/cosign3: $(TOOLS)/cosign-$(COSIGN3_VERSION)/cosign
	ln -sfn cosign-$(COSIGN3_VERSION)/cosign $@

$(TOOLS)/registry:
	GOBIN=$(TOOLS) $(GO) install github.com/distribution/distribution/v3/cmd/registry@$(REGISTRY_VERSION)

$(TOOLS)/crane:
	GOBIN=$(TOOLS) $(GO) install github.com/google/go-containerregistry/cmd/crane@$(CRANE_VERSION)

$(TOOLS)/oras:
	GOBIN=$(TOOLS) $(GO) install oras.land/oras/cmd/oras@$(ORAS_VERSION)

$(TOOLS)/regctl:
	GOBIN=$(TOOLS) $(GO) install github.com/regclient/regclient/cmd/regctl@$(REGCTL_VERSION)

$(TOOLS)/weed:
	@set -euo pipefail; \
	dir=$$($(GO) mod download -json github.com/seaweedfs/seaweedfs@$(WEED_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	test -n "$$dir" || { echo "go mod download gave no source directory for seaweedfs@$(WEED_VERSION)" >&2; exit 1; }; \
	tmp=$$(mktemp -d); trap 'chmod -R u+w "$$tmp"; rm -rf "$$tmp"' EXIT; \
	cp -r "$$dir/." "$$tmp/src"; chmod -R u+w "$$tmp/src"; \
	echo "building weed from $$dir"; \
	cd "$$tmp/src" && $(GO) build -o $(TOOLS)/weed.tmp ./weed && mv $(TOOLS)/weed.tmp $(TOOLS)/weed

weed: $(TOOLS)/weed

skopeo:
	@command -v skopeo >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq skopeo >/dev/null; }

# containerd 1.6 from Debian: the reader tests start their own daemon
# (own root, state and socket in a temporary directory) and run ctr.
containerd:
	@command -v containerd >/dev/null && command -v ctr >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containerd >/dev/null; }

tools: skopeo containerd $(TOOLS)/cosign $(TOOLS)/cosign3 $(TOOLS)/registry $(TOOLS)/crane $(TOOLS)/oras $(TOOLS)/regctl $(TOOLS)/weed

bench-tools: tools

# A private Sigstore on loopback for the keyless end-to-end tests
# (internal/sigstack): Fulcio, Rekor v2 (rekor-tiles, POSIX) and a timestamp
# authority, built from the Go module proxy into $(SIGSTACK). A target whose
# binary exists is not rebuilt.
SIGSTACK             := $(TOOLS)/sigstack
FULCIO_VERSION       := v1.8.8
REKOR_TILES_VERSION  := v2.2.1
TSA_VERSION          := v2.1.3
export AIRLOCK_SIGSTACK_BIN := $(SIGSTACK)

$(SIGSTACK)/fulcio:
	GOBIN=$(SIGSTACK) $(GO) install github.com/sigstore/fulcio@$(FULCIO_VERSION)

$(SIGSTACK)/posix:
	GOBIN=$(SIGSTACK) $(GO) install github.com/sigstore/rekor-tiles/v2/cmd/rekor-server/posix@$(REKOR_TILES_VERSION)

# Rekor v1 for legacy keyless signatures with a log entry: rekor-server on
# Trillian (log server and signer) and MariaDB from Debian.
REKOR_VERSION    := v1.5.3
TRILLIAN_VERSION := v1.7.3

# timestamp-server and rekor-server hard-code a metrics listener on :2112
# (every interface; timestamp-server exits when the port is taken): the
# stack runs them built from their module source with that listener moved to
# an ephemeral loopback port, so stacks and other tests never collide.
$(SIGSTACK)/rekor-server-lo:
	GO=$(GO) ./hack/sigstack-build-loopback.sh github.com/sigstore/rekor@$(REKOR_VERSION) cmd/rekor-server/app/serve.go cmd/rekor-server $@

$(SIGSTACK)/timestamp-server-lo:
	GO=$(GO) ./hack/sigstack-build-loopback.sh github.com/sigstore/timestamp-authority/v2@$(TSA_VERSION) pkg/server/prometheus.go cmd/timestamp-server $@

$(SIGSTACK)/trillian_log_server $(SIGSTACK)/trillian_log_signer &:
	GOBIN=$(SIGSTACK) $(GO) install github.com/google/trillian/cmd/trillian_log_server@$(TRILLIAN_VERSION) github.com/google/trillian/cmd/trillian_log_signer@$(TRILLIAN_VERSION)

$(SIGSTACK)/trillian-storage.sql:
	cp "$$(GOFLAGS=-mod=mod $(GO) mod download -json github.com/google/trillian@$(TRILLIAN_VERSION) | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p')/storage/mysql/schema/storage.sql" $@

mariadb:
	@command -v mariadbd >/dev/null || test -x /usr/sbin/mariadbd || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null; }

sigstack-tools: $(TOOLS)/cosign $(TOOLS)/cosign3 $(SIGSTACK)/fulcio $(SIGSTACK)/posix \
	$(SIGSTACK)/timestamp-server-lo $(SIGSTACK)/rekor-server-lo $(SIGSTACK)/trillian_log_server $(SIGSTACK)/trillian_log_signer $(SIGSTACK)/trillian-storage.sql mariadb

# Rewrite testdata/sigstack: real cosign v2 and v3 keyless bundles made
# against the private Sigstore, which `go test ./verify` checks offline.
sigstack-fixtures: sigstack-tools
	$(GO) run ./hack/sigstackfixtures -bin-dir $(SIGSTACK) -cosign $(TOOLS)/cosign -cosign3 $(TOOLS)/cosign3 -out testdata/sigstack

# Only the tests that run against the private Sigstore.
test-sigstore: sigstack-tools $(TOOLS)/registry $(TOOLS)/crane
	AIRLOCK_E2E=1 $(GO) test -count=1 -timeout 20m -run 'Keyless|TestStartClose|TestPartsDieWithTheTestBinary|TestIssuerToken|TestRealCosignPrivateSigstoreBundles' -v ./cmd/airlock ./internal/sigstack ./verify

vet:
	$(GO) vet ./...

unit:
	$(GO) test ./...

test: tools sigstack-tools vet
	AIRLOCK_E2E=1 $(GO) test -count=1 -timeout 40m ./...

# Run every fuzz target for FUZZTIME each (the seed corpora run in `make test`),
# then the gate's property test (random edits of a bundle's unsigned
# metadata never improve a verdict) for PROPERTYTIME (a few seconds in `make test`).
FUZZTIME ?= 15s
PROPERTYTIME ?= 2m
fuzz:
	AIRLOCK_PROPERTY_TIME=$(PROPERTYTIME) $(GO) test -count=1 -timeout 30m -run '^TestGateProperty$$' .
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

bench: bench-tools
	./hack/bench.sh

clean:
	rm -rf $(TOOLS)

# fedlic — see README.md. Every target runs from a fresh clone.
GO       ?= go
BIN      := bin
TOOLS    := $(CURDIR)/bin/tools
PKGS     := ./...
BUF_VERSION          := v1.75.0
PROTOC_GEN_GO        := v1.36.12
PROTOC_GEN_GO_GRPC   := v1.6.2
TEST_TIMEOUT         ?= 14m

.PHONY: all build dev test test-short proto lint fuzz bench chaos chaos-docker clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/fedlic ./cmd/fedlic
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/fedlic-bench ./cmd/fedlic-bench

# A three-node domain on loopback with sample licenses; Ctrl-C stops it.
dev: build
	./$(BIN)/fedlic dev

# What CI runs. Race detector on, fsync on, real TCP, real processes.
test: build
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

# Regenerate api/fedlicpb from api/proto with pinned tools.
proto:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC)
	cd api && PATH="$(TOOLS):$$PATH" $(GO) run github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION) generate

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Every benchmark beside its same-run baseline; rewrites docs/benchmarks.md.
bench: build
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/fedlic-bench ./cmd/fedlic-bench
	./$(BIN)/fedlic-bench all --fedlic $(BIN)/fedlic

# Long chaos: process mode (kill -9, SIGSTOP, restarts under load,
# porcupine + lost-write + revocation checks), then docker partitions.
# A 45 s process-mode run and the planted-bug run are part of make test.
CHAOS_SECS ?= 600
chaos: build
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/fedlic-chaos ./cmd/fedlic-chaos
	./$(BIN)/fedlic-chaos --fedlic $(BIN)/fedlic --duration $(CHAOS_SECS)s
	./$(BIN)/fedlic-chaos --fedlic $(BIN)/fedlic --federation --duration $(CHAOS_SECS)s
	scripts/chaos-docker.sh $(CHAOS_SECS)

# Partitions for real: a FROM-scratch image, a Compose domain on its own
# network, docker network disconnect / docker pause under load.
CHAOS_DOCKER_SECS ?= 300
chaos-docker:
	scripts/chaos-docker.sh $(CHAOS_DOCKER_SECS)

FUZZTIME ?= 60s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf $(BIN)

#!/bin/sh
# Installs what `deno task conformance` runs, pinned, into the project's
# git-ignored .tools/ folder (nothing system-wide):
#   - AWS's Lambda Runtime Interface Emulator, built with `go install` from
#     the Go module proxy: .tools/go/bin/aws-lambda-rie (GOPATH, GOMODCACHE
#     and GOCACHE under .tools/go too);
#   - AWS's Python runtime interface client (awslambdaric, PyPI), which runs
#     the conformance function: .tools/awslambdaric.
# Idempotent; fails (exit 1) with a message naming what is missing.
set -eu

# The pseudo-version of the emulator's main branch that the Go module proxy
# serves (it has LMI mode: AWS_LAMBDA_MAX_CONCURRENCY).
RIE_MODULE=github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
RIE_VERSION=v0.0.0-20261030222936-bef5c4ba774d
AWSLAMBDARIC_VERSION=4.2.2

root=$(cd "$(dirname "$0")/../.." && pwd -P)
tools=$root/.tools
rie=$tools/go/bin/aws-lambda-rie
ric=$tools/awslambdaric
stamp_rie=$tools/go/aws-lambda-rie.version
stamp_ric=$ric/.version

if [ -x "$rie" ] && [ "$(cat "$stamp_rie" 2>/dev/null)" = "$RIE_VERSION" ]; then
  echo "rie: aws-lambda-rie $RIE_VERSION ready in $rie"
else
  command -v go >/dev/null 2>&1 || {
    echo "rie: the go command is missing: install Go 1.24 or later to build aws-lambda-rie" >&2
    exit 1
  }
  mkdir -p "$tools/go"
  echo "rie: go install $RIE_MODULE@$RIE_VERSION"
  GOPATH=$tools/go GOBIN=$tools/go/bin GOMODCACHE=$tools/go/pkg/mod \
    GOCACHE=$tools/go/cache GOFLAGS=-modcacherw \
    go install "$RIE_MODULE@$RIE_VERSION" || {
    echo "rie: go install of aws-lambda-rie failed" >&2
    exit 1
  }
  echo "$RIE_VERSION" >"$stamp_rie"
  echo "rie: aws-lambda-rie $RIE_VERSION installed in $rie"
fi

if [ -f "$ric/awslambdaric/__main__.py" ] && [ "$(cat "$stamp_ric" 2>/dev/null)" = "$AWSLAMBDARIC_VERSION" ]; then
  echo "rie: awslambdaric $AWSLAMBDARIC_VERSION ready in $ric"
else
  command -v python3 >/dev/null 2>&1 || {
    echo "rie: python3 is missing: the conformance function runs on Python 3" >&2
    exit 1
  }
  rm -rf "$ric"
  echo "rie: pip install awslambdaric==$AWSLAMBDARIC_VERSION into $ric"
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --target "$ric" "awslambdaric==$AWSLAMBDARIC_VERSION" || {
    echo "rie: pip install of awslambdaric failed" >&2
    exit 1
  }
  echo "$AWSLAMBDARIC_VERSION" >"$stamp_ric"
  echo "rie: awslambdaric $AWSLAMBDARIC_VERSION installed in $ric"
fi

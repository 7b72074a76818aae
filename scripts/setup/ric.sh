#!/usr/bin/env bash
# Installs AWS's runtime interface clients, pinned, into .tools/ric/ (git-ignored),
# for the local Lambda sandbox: `bash scripts/setup/ric.sh [node|python|java|all]`
# (the sandbox runs it by itself when a client is missing; .ci/run runs `all`).
# Idempotent: a client already installed at its pinned version is left alone.
# Fails with a message when a toolchain it needs is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
NODE_RIC_VERSION=4.0.2     # aws-lambda-ric (npm)
PYTHON_RIC_VERSION=4.2.2   # awslambdaric (PyPI)
JAVA_HOME_25=${JAVA_HOME_25:-/usr/lib/jvm/temurin-25-jdk-amd64}  # compiles --release 21
TOOLS=.tools/ric
# need <command> <Debian package> <why>: installs the package when missing (root with apt-get), else fails.
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ric setup: installing $2 ($3)"
    (apt-get update -qq && apt-get install -y -qq "$2") >/dev/null 2>&1 || true
  fi
  command -v "$1" >/dev/null 2>&1 || { echo "ric setup: $1 is missing: apt-get install $2 ($3)" >&2; exit 1; }
}

node_client() {
  local stamp=$TOOLS/node/.installed-$NODE_RIC_VERSION
  [ -f "$stamp" ] && return 0
  need npm npm "Node.js"
  need cmake cmake "aws-lambda-ric builds aws-lambda-cpp and curl"
  need make build-essential "aws-lambda-ric's native build"
  need g++ build-essential "aws-lambda-ric's native build"
  rm -rf "$TOOLS/node" && mkdir -p "$TOOLS/node"
  echo "ric setup: npm aws-lambda-ric@$NODE_RIC_VERSION (builds its native part, a minute or two)"
  # The project's .npmrc sets engine-strict for infra/ (Node 22.18+); aws-lambda-ric
  # 4.0.2 declares node >= 22 but runs the sandbox's functions on this Node 20.
  npm install --prefix "$TOOLS/node" --no-save --no-audit --no-fund --loglevel=error \
    --engine-strict=false "aws-lambda-ric@$NODE_RIC_VERSION" >/dev/null
  touch "$stamp"
}

python_client() {
  local stamp=$TOOLS/python/.installed-$PYTHON_RIC_VERSION
  [ -f "$stamp" ] && return 0
  need python3 python3 "Python 3"
  rm -rf "$TOOLS/python" && mkdir -p "$TOOLS/python"
  echo "ric setup: pip awslambdaric==$PYTHON_RIC_VERSION"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$TOOLS/python" \
    "awslambdaric==$PYTHON_RIC_VERSION"
  touch "$stamp"
}

java_client() {
  local sum; sum=$(cat scripts/setup/ric-java/pom.xml scripts/sandbox/functions/java/example/*.java | sha256sum | cut -c1-16)
  local stamp=$TOOLS/java/.installed-$sum
  [ -f "$stamp" ] && return 0
  need mvn maven "fetches the Java client from Maven Central"
  [ -x "$JAVA_HOME_25/bin/javac" ] || { echo "ric setup: no JDK at $JAVA_HOME_25 (set JAVA_HOME_25 to a JDK >= 21)" >&2; exit 1; }
  rm -rf "$TOOLS/java" && mkdir -p "$TOOLS/java/lib" "$TOOLS/java/function"
  echo "ric setup: maven aws-lambda-java-runtime-interface-client (scripts/setup/ric-java/pom.xml)"
  mvn -q -f scripts/setup/ric-java/pom.xml dependency:copy-dependencies \
    -DoutputDirectory="$PWD/$TOOLS/java/lib" >/dev/null
  "$JAVA_HOME_25/bin/javac" --release 21 -encoding UTF-8 -cp "$TOOLS/java/lib/*" \
    -d "$TOOLS/java/function" scripts/sandbox/functions/java/example/*.java
  touch "$stamp"
}

case "${1:-all}" in
  node) node_client ;;
  python) python_client ;;
  java) java_client ;;
  # all: also openssl, which makes the local Kinesis's TLS certificate.
  all) need openssl openssl "TLS to the local Kinesis"; node_client; python_client; java_client ;;
  *) echo "usage: scripts/setup/ric.sh [node|python|java|all]" >&2; exit 2 ;;
esac

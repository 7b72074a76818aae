#!/usr/bin/env bash
# Installs the consumers of `deno task consumers` into .tools/ (git-ignored):
#   .tools/kcl/lib      the Kinesis Client Library and its jars (Maven Central,
#                       pinned in scripts/consumers/kcl/pom.xml)
#   .tools/kcl/classes  scripts/consumers/kcl/KclReader.java, compiled
#   .tools/python       aws_kinesis_agg and its dependencies (PyPI, pinned in
#                       scripts/consumers/python/requirements.txt)
# A JDK, Maven and pip come from Debian's packages when missing (needs root).
# Each part writes a stamp with the hash of its inputs last, so a part that
# failed half-way is installed again. Exits non-zero with a message naming
# what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
kcl_inputs=(scripts/consumers/kcl/pom.xml scripts/consumers/kcl/KclReader.java)
py_inputs=(scripts/consumers/python/requirements.txt)

fail() { echo "consumers setup: $*" >&2; exit 1; }
stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
apt_install() { # apt_install <package>...
  [ "$(id -u)" -eq 0 ] || fail "missing $* and not root to apt-get install it"
  echo "consumers setup: apt-get install $*"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@") >/dev/null ||
    fail "apt-get install $* failed"
}

if [ "$(cat .tools/kcl/.stamp 2>/dev/null)" != "$(stamp_of "${kcl_inputs[@]}")" ]; then
  command -v javac >/dev/null 2>&1 && command -v java >/dev/null 2>&1 || apt_install default-jdk-headless
  command -v mvn >/dev/null 2>&1 || apt_install maven
  command -v javac >/dev/null 2>&1 || fail "javac not found after installing a JDK"
  command -v mvn >/dev/null 2>&1 || fail "mvn not found after installing Maven"
  rm -rf .tools/kcl
  mkdir -p .tools/kcl
  echo "consumers setup: KCL jars from Maven Central into .tools/kcl/lib"
  mvn -B -q -Dstyle.color=never -f scripts/consumers/kcl/pom.xml dependency:copy-dependencies \
    -DoutputDirectory="$root/.tools/kcl/lib" -DincludeScope=runtime ||
    fail "mvn dependency:copy-dependencies failed"
  javac -nowarn -d .tools/kcl/classes -cp ".tools/kcl/lib/*" scripts/consumers/kcl/KclReader.java ||
    fail "javac KclReader.java failed"
  stamp_of "${kcl_inputs[@]}" >.tools/kcl/.stamp
fi

if [ "$(cat .tools/python/.stamp 2>/dev/null)" != "$(stamp_of "${py_inputs[@]}")" ]; then
  command -v python3 >/dev/null 2>&1 || apt_install python3
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  rm -rf .tools/python
  echo "consumers setup: aws_kinesis_agg from PyPI into .tools/python"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-deps \
    --target .tools/python -r scripts/consumers/python/requirements.txt ||
    fail "pip install -r scripts/consumers/python/requirements.txt failed"
  stamp_of "${py_inputs[@]}" >.tools/python/.stamp
fi
echo "consumers setup: KCL and aws_kinesis_agg ready in .tools/"

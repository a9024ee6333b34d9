#!/usr/bin/env bash
# Builds the release: static binaries (CGO_ENABLED=0, -trimpath) for five
# platforms, one .tar.gz each with LICENSE and README, SHA256SUMS, and the
# krew manifest filled in from deploy/krew/auditq.yaml.
#
#   scripts/release.sh [VERSION [OUTDIR]]      # default: git describe, dist/
#
# Nothing is uploaded. The archives are reproducible: the same commit and Go
# give the same bytes (names sorted, times fixed to the commit's, owners 0).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

version=${1:-$(git describe --tags --always --dirty)}
out=${2:-dist}
targets=${AUDITQ_TARGETS:-"linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64"}
epoch=$(git log -1 --format=%ct)

case "$version" in *[!A-Za-z0-9._+-]*) echo "release: bad version $version" >&2; exit 2 ;; esac
rm -rf "$out"
mkdir -p "$out"
for target in $targets; do
  os=${target%/*} arch=${target#*/}
  name="auditq_${version}_${os}_${arch}"
  exe=auditq
  [ "$os" = windows ] && exe=auditq.exe
  stage="$out/.stage/$name"
  mkdir -p "$stage"
  # -buildvcs=true: the revision goes into the binary even where GOFLAGS
  # turns it off; --version reads it back.
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=true \
    -ldflags "-s -w -X github.com/auditq/auditq/internal/cli.version=$version" \
    -o "$stage/$exe" ./cmd/auditq
  cp LICENSE README.md "$stage/"
  tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
    -C "$stage" -cf - "$exe" LICENSE README.md | gzip -9n > "$out/$name.tar.gz"
  echo "release: $out/$name.tar.gz"
done
rm -rf "$out/.stage"
(cd "$out" && sha256sum -- *.tar.gz > SHA256SUMS)

# The krew manifest: the version and each platform's checksum.
manifest=$(sed "s/{{VERSION}}/$version/g" deploy/krew/auditq.yaml)
while read -r sum file; do
  platform=${file#auditq_"${version}"_}
  platform=${platform%.tar.gz}
  manifest=${manifest//"{{SHA256_${platform}}}"/$sum}
done < "$out/SHA256SUMS"
printf '%s\n' "$manifest" > "$out/auditq.krew.yaml"
echo "release: $out/SHA256SUMS $out/auditq.krew.yaml"

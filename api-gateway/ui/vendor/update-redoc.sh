#!/bin/sh
# Re-vendors Redoc's standalone bundle from the npm registry (npm pack, no
# install): ./update-redoc.sh [VERSION]. Then update README.md (version,
# integrity, sha256) and commit the three files. Redoc 3 no longer ships the
# standalone bundle; stay on 2.x.
set -eu
version=${1:-2.5.4}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "redoc@$version" >/dev/null
tar xzf "redoc-$version.tgz"
cp package/bundles/redoc.standalone.js "$here/redoc.standalone.js"
cp package/bundles/redoc.standalone.js.LICENSE.txt "$here/redoc.standalone.js.LICENSE.txt"
cp package/LICENSE "$here/redoc.LICENSE"
echo "redoc $version: integrity $(npm view "redoc@$version" dist.integrity)"
echo "sha256 $(sha256sum "$here/redoc.standalone.js" | cut -d' ' -f1)"

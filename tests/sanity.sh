#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection laid out where ansible-test wants it
# (ansible_collections/mailtls/postfix). No ignore files: every test must pass.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tree="$root/.cache/sanity/ansible_collections/mailtls/postfix"
rm -rf "$tree"
mkdir -p "$tree"
# The tools ansible-test sanity runs, pinned by ansible-test itself.
venv="$root/.cache/sanity-venv"
if [[ ! -x "$venv/bin/ansible-test" ]]; then
  python3 -m venv "$venv"
  reqs="$root/.venv/lib/python3.11/site-packages/ansible_test/_data/requirements"
  version=$("$root/.venv/bin/python" -c 'import ansible; print(ansible.__version__)')
  args=()
  for f in "$reqs"/sanity.*.txt; do args+=(-r "$f"); done
  "$venv/bin/pip" install -q "ansible-core==$version" "${args[@]}"
fi

# What git would ship: tracked files plus new ones not ignored.
(cd "$root" && git ls-files -co --exclude-standard -z) | (cd "$root" && rsync -a --from0 --files-from=- ./ "$tree/")
# ansible-test bootstraps pip in its sanity venvs with a script from a host we cannot
# reach; give it ours, for the pip version this ansible-test asks for.
pip_version=$("$root/.cache/sanity-venv/bin/python" - <<'PY'
import re, ansible_test, pathlib
source = pathlib.Path(ansible_test.__file__).parent.joinpath("_internal/python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", source).group(1))
PY
)
mkdir -p ~/.ansible/test/cache
cp "$root/tests/offline_get_pip.py" ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"
cd "$tree"
git init -q . && git add -A   # ansible-test lists files through git when it can
PATH="$root/.cache/sanity-venv/bin:$PATH" ansible-test sanity --local --python 3.11 --color no "$@"

#!/usr/bin/env bash
# validate.sh — checks the deployment files without deploying them: docker/compose.yml
# and its cluster overlay compose.cluster.yml
# against the Compose specification's JSON schema (check-jsonschema's vendored copy)
# and docker/ecs-fargate.yaml with cfn-lint. Both tools come from PyPI at pinned
# versions into a virtualenv under target/ (made once, reused). Run by .ci/run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=$ROOT/target/validate-venv
TOOLS=(check-jsonschema==0.39.0 cfn-lint==1.58.0)

if ! "$VENV/bin/pip" freeze 2>/dev/null | grep -qx "cfn-lint==1.58.0"; then
    echo "validate: installing ${TOOLS[*]} into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "${TOOLS[@]}" </dev/null
fi
"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec \
    "$ROOT/docker/compose.yml" "$ROOT/docker/compose.cluster.yml"
"$VENV/bin/cfn-lint" "$ROOT/docker/ecs-fargate.yaml"
echo "validate: docker/compose.yml, compose.cluster.yml and ecs-fargate.yaml pass"

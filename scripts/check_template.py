#!/usr/bin/env python3
"""Reads infra/template.yaml as CloudFormation and IAM would, and checks what no linter knows about Entitle:

- parameters: the only ones without a default are the ones a deploy must be given, each refusing a wrong shape
  with a message; no default is a placeholder (an example domain, a dummy account);
- secrets: every `*_ARN` secret a function reads is either created by the stack or given, and that function may
  `secretsmanager:GetSecretValue` exactly the secrets it reads — the ARN and `ARN-??????` when given (a partial ARN
  names the secret without its suffix) — plus `kms:Decrypt` through Secrets Manager when a KMS key is given;
  every secret has its output;
- alarms: every alarm notifies the alarm topic when it fires and clears; every `Entitle` metric an alarm or the
  dashboard reads is one the code emits (`metrics::count("…")` in crates/), with the dimension it emits; AWS
  metrics per function carry their `FunctionName`;
- one list: the dashboard graphs every metric the code emits and shows every alarm; docs/operations.md names
  every alarm and metric, and no alarm the template lacks.

Exit 1 with one line per problem. Pure Python on the template text: fast enough for `make test`.
"""
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_aws import load_template  # noqa: E402  (the CloudFormation-tag-aware loader)

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {"ClerkFrontendApi", "AllowedOrigins", "AllowedRedirectOrigins"}
PLACEHOLDER = re.compile(r"example\.(com|org|net)|000000000000|REGION|ACCOUNT", re.IGNORECASE)
SECRET_OUTPUTS = {"StripeWebhookSecretArn", "ClerkWebhookSecretArn", "StripeSecretKeyArn", "ClerkSecretKeyArn",
                  "UsageApiKeysArn"}
NEW_OUTPUTS = SECRET_OUTPUTS | {"AlarmTopicArn", "DashboardUrl"}


def emitted_metrics() -> dict[str, str]:
    """Metric name -> 'function' or 'function,type', from the code's calls."""
    found = {}
    for path in (ROOT / "crates").rglob("*.rs"):
        if "tests" in path.parts or path.name == "tests.rs":
            continue
        text = path.read_text()
        for name in re.findall(r'metrics::count\(\s*"(\w+)"', text):
            found.setdefault(name, "function")
        for name in re.findall(r'metrics::count_by_type\(\s*"(\w+)"', text):
            found[name] = "function,type"
    return found


def secret_of(value):
    """(condition, created resource, parameter) of `!If [Create…, !Ref Secret, !Ref …Arn]`, else None."""
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        cond, created, given = value["Fn::If"]
        if isinstance(created, dict) and isinstance(given, dict) and "Ref" in created and "Ref" in given:
            return cond, created["Ref"], given["Ref"]
    return None


def check_parameters(t, problems):
    for name, decl in t.get("Parameters", {}).items():
        if "Default" not in decl:
            if name not in REQUIRED:
                problems.append(f"parameter {name} has no default but is not one a deploy must be given")
            if not decl.get("AllowedPattern") or not decl.get("ConstraintDescription"):
                problems.append(f"required parameter {name} needs an AllowedPattern and a ConstraintDescription")
        elif PLACEHOLDER.search(str(decl["Default"])):
            problems.append(f"parameter {name} defaults to a placeholder: {decl['Default']!r}")
    for name in REQUIRED - set(t.get("Parameters", {})):
        problems.append(f"required parameter {name} is missing")


def statements(fn):
    for policy in fn["Properties"].get("Policies") or []:
        if isinstance(policy, dict):
            for st in policy.get("Statement") or []:
                yield st


def check_secrets(t, problems):
    resources, conditions = t["Resources"], t.get("Conditions", {})
    declared = {}
    for logical, res in resources.items():
        if res["Type"] == "AWS::SecretsManager::Secret":
            declared[logical] = res
            if res.get("DeletionPolicy") not in ("Retain", "RetainExceptOnCreate"):
                problems.append(f"secret {logical} is deleted with the stack")
            name = json.dumps(res["Properties"].get("Name"))
            if "AWS::StackName" not in name:
                problems.append(f"secret {logical} is not named per stack")
    used = set()
    for logical, fn in resources.items():
        if fn["Type"] != "AWS::Serverless::Function":
            continue
        env = ((fn["Properties"].get("Environment") or {}).get("Variables")) or {}
        reads = {}
        for var, value in env.items():
            if not var.endswith("_ARN") or var in ("BILLING_EVENTS_TOPIC_ARN",):
                continue
            s = secret_of(value)
            if s is None:
                problems.append(f"{logical}: {var} is not `!If [Create…, !Ref <secret>, !Ref <parameter>]`")
                continue
            cond, created, param = s
            if created not in declared or declared[created].get("Condition") != cond:
                problems.append(f"{logical}: {var}: {created} is not a secret created under condition {cond}")
            if conditions.get(cond) != {"Fn::Equals": [{"Ref": param}, ""]}:
                problems.append(f"{logical}: {var}: condition {cond} is not `{param} is empty`")
            reads[created] = s
            used.add(created)
        granted, kms = {}, False
        for st in statements(fn):
            if isinstance(st, dict) and list(st) == ["Fn::If"]:
                cond, inner, _ = st["Fn::If"]
                if cond == "HasSecretsKmsKey" and inner.get("Action") == "kms:Decrypt":
                    via = json.dumps(inner.get("Condition"))
                    kms = "kms:ViaService" in via and "secretsmanager." in via
                continue
            actions = st.get("Action")
            actions = actions if isinstance(actions, list) else [actions]
            if "secretsmanager:GetSecretValue" not in actions:
                continue
            s = secret_of_statement(st.get("Resource"))
            if s is None:
                problems.append(f"{logical}: a GetSecretValue statement is not "
                                "`!If [Create…, !Ref <secret>, [!Ref <parameter>, !Sub '${<parameter>}-??????']]`")
                continue
            granted[s[1]] = s
        for created, s in reads.items():
            if granted.get(created) != s:
                problems.append(f"{logical}: reads {created} but may not GetSecretValue it (ARN and ARN-??????)")
        for created in set(granted) - set(reads):
            problems.append(f"{logical}: may GetSecretValue {created}, which it does not read")
        if reads and not kms:
            problems.append(f"{logical}: no kms:Decrypt (via secretsmanager) on SecretsKmsKeyArn when it is given")
    for created in set(declared) - used:
        problems.append(f"secret {created} is read by no function")
    for name in NEW_OUTPUTS - set(t.get("Outputs", {})):
        problems.append(f"output {name} is missing")


def secret_of_statement(resource):
    if not (isinstance(resource, dict) and list(resource) == ["Fn::If"]):
        return None
    cond, created, given = resource["Fn::If"]
    if not (isinstance(created, dict) and "Ref" in created and isinstance(given, list) and len(given) == 2):
        return None
    param = given[0].get("Ref") if isinstance(given[0], dict) else None
    if given[1] != {"Fn::Sub": "${%s}-??????" % param}:
        return None
    return cond, created["Ref"], param


def metric_refs(res):
    """(namespace, metric, dimension names, dimension values) of an alarm, its metric-math metrics included."""
    p = res["Properties"]
    if "MetricName" in p:
        dims = p.get("Dimensions") or []
        yield p["Namespace"], p["MetricName"], [d["Name"] for d in dims], [d["Value"] for d in dims]
    for m in p.get("Metrics") or []:
        metric = (m.get("MetricStat") or {}).get("Metric")
        if metric:
            dims = metric.get("Dimensions") or []
            yield metric["Namespace"], metric["MetricName"], [d["Name"] for d in dims], [d["Value"] for d in dims]


def check_alarms(t, emitted, problems):
    alarms = {k: v for k, v in t["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    for logical, res in alarms.items():
        p = res["Properties"]
        for key in ("AlarmActions", "OKActions"):
            if {"Ref": "AlarmTopic"} not in (p.get(key) or []):
                problems.append(f"{logical}: {key} lacks the alarm topic")
        for ns, metric, names, values in metric_refs(res):
            if ns == "Entitle":
                if metric not in emitted:
                    problems.append(f"{logical}: metric Entitle/{metric} is emitted nowhere in crates/")
                elif ",".join(names) != emitted[metric]:
                    problems.append(f"{logical}: Entitle/{metric} has dimensions {names}; the code emits "
                                    f"[{emitted[metric]}]")
            if ns == "AWS/Lambda" and names != ["FunctionName"]:
                problems.append(f"{logical}: AWS/Lambda/{metric} without a FunctionName dimension covers every "
                                "function of the account")
            for value in values:
                if ns == "Entitle" and not (isinstance(value, dict) and str(value.get("Ref", "")).endswith("Function")):
                    problems.append(f"{logical}: dimension function should be !Ref <the function>")
    return alarms


def check_one_list(t, emitted, alarms, problems):
    dashboards = [r for r in t["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    if len(dashboards) != 1:
        problems.append("the template should have one dashboard")
        return
    body = dashboards[0]["Properties"]["DashboardBody"]
    body = body.get("Fn::Sub") if isinstance(body, dict) else body
    try:
        widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    except (ValueError, KeyError, TypeError) as e:
        problems.append(f"the dashboard body is not JSON with widgets: {e}")
        return
    graphed = set()
    for w in widgets:
        for row in (w.get("properties") or {}).get("metrics") or []:
            if row and row[0] == "Entitle":
                graphed.add(row[1])
            for item in row:
                if isinstance(item, dict) and "expression" in item:
                    graphed.update(re.findall(r'MetricName=\\?"(\w+)', item["expression"]))
    for metric in set(emitted) - graphed:
        problems.append(f"the dashboard does not graph Entitle/{metric}")
    for metric in graphed - set(emitted):
        problems.append(f"the dashboard graphs Entitle/{metric}, which the code does not emit")
    for logical in alarms:
        if "${%s}" % logical not in body:
            problems.append(f"the dashboard's alarm widget lacks {logical}")
    ops = (ROOT / "docs" / "operations.md").read_text()
    for name in sorted(set(alarms) | set(emitted)):
        if f"`{name}`" not in ops:
            problems.append(f"docs/operations.md does not list `{name}`")
    for name in sorted(set(re.findall(r"`(\w+Alarm)`", ops)) - set(alarms)):
        problems.append(f"docs/operations.md lists `{name}`, which the template lacks")


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "infra" / "template.yaml"
    t = load_template(path.read_text())
    emitted = emitted_metrics()
    problems = []
    check_parameters(t, problems)
    check_secrets(t, problems)
    alarms = check_alarms(t, emitted, problems)
    check_one_list(t, emitted, alarms, problems)
    for p in problems:
        print(f"check-template: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check-template: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
          f"{len(alarms)} alarms on the alarm topic, {len(emitted)} metrics graphed and documented, "
          "secrets and their IAM consistent")
    return 0


if __name__ == "__main__":
    sys.exit(main())

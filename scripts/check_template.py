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
  every alarm and metric, and no alarm the template lacks;
- concurrency: the processor's queue event source is capped by ProcessorMaxConcurrency (2-1000, AWS's range), and
  every function's ReservedConcurrentExecutions is its own optional parameter (empty = none, via AWS::NoValue);
- tables: every table is created only when its `<Table>Name` parameter is empty, is retained (deletion and
  replacement) and deletion-protected, and every reference to it sits in `!If [Create<Table>, …, <the parameter>]`,
  so functions, policies, alarms and outputs name the table in use either way;
- throttling: the HTTP API's default route settings are billing-api's parameters, every usage-api route has its
  own (usage-api's parameters, higher defaults), and no route setting names a route that does not exist;
- infra/bootstrap.yaml: each deploy role may be assumed only through GitHub's OIDC provider, with `aud` =
  sts.amazonaws.com and `sub` = exactly `repo:<org>/<repo>:environment:<its environment>`; the roles it may create
  carry its permissions boundary and sit under the stack's path (as infra/template.yaml puts them); it may pass
  roles only to Lambda and the scheduler; it holds the actions each resource type of infra/template.yaml needs;
- parameters in one place: samconfig.toml has a section per deploy.yml environment, and deploy.yml's `sam deploy`
  reads it (`--config-env`) and never passes `--parameter-overrides`.

Exit 1 with one line per problem. Pure Python on the template text: fast enough for `make test`.
`scripts/test_check_template.py` breaks each rule once and expects its problem.
"""
import json
import re
import sys
import tomllib
from pathlib import Path

import yaml

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
        # The Stripe and Clerk clients' 429 retries count under the metric they name (adapters/http.rs).
        for name in re.findall(r'RateLimitRetries::new\(\s*"\w+",\s*"(\w+)"', text):
            found.setdefault(name, "function")
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
    metrics = p.get("Metrics") or []
    if isinstance(metrics, dict) and list(metrics) == ["Fn::If"]:
        metrics = metrics["Fn::If"][1] + metrics["Fn::If"][2]  # both branches
    for m in metrics:
        metric = (m.get("MetricStat") or {}).get("Metric")
        if metric:
            dims = metric.get("Dimensions") or []
            yield metric["Namespace"], metric["MetricName"], [d["Name"] for d in dims], [d["Value"] for d in dims]


def check_alarms(t, emitted, problems):
    alarms = {k: v for k, v in t["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    # Metrics the template's own metric filters publish (namespace, name).
    filtered = {(m.get("MetricNamespace"), m.get("MetricName"))
                for r in t["Resources"].values() if r["Type"] == "AWS::Logs::MetricFilter"
                for m in r["Properties"].get("MetricTransformations") or []}
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
            if ns.startswith("Entitle/") and (ns, metric) not in filtered:
                problems.append(f"{logical}: metric {ns}/{metric} is published by no metric filter of the template")
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
    if isinstance(body, list):  # !Sub [body, {variables}]
        body = body[0]
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


# --------------------------------------------------------------------------------------------------------------
# Concurrency, tables, throttling
# --------------------------------------------------------------------------------------------------------------

NO_VALUE = {"Ref": "AWS::NoValue"}


def functions(t):
    return {k: v for k, v in t["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def check_no_crash_points(t, problems):
    """ENTITLE_CRASH_AT arms the soak's crash points (crates/core/src/crash.rs): test-only, never deployed."""
    scopes = [("Globals", (t.get("Globals") or {}).get("Function") or {})]
    scopes += [(name, fn.get("Properties") or {}) for name, fn in functions(t).items()]
    for name, props in scopes:
        variables = ((props.get("Environment") or {}).get("Variables")) or {}
        if "ENTITLE_CRASH_AT" in variables:
            problems.append(f"{name} sets ENTITLE_CRASH_AT: the soak's crash points are test-only (docs/security.md)")


def check_concurrency(t, problems):
    params, conditions = t.get("Parameters", {}), t.get("Conditions", {})
    cap = params.get("ProcessorMaxConcurrency")
    if not cap:
        problems.append("parameter ProcessorMaxConcurrency is missing")
    elif not (cap.get("Type") == "Number" and cap.get("MinValue", 0) >= 2 and cap.get("MaxValue", 10**6) <= 1000
              and 2 <= int(cap.get("Default", 0)) <= 1000):
        problems.append("parameter ProcessorMaxConcurrency must be a Number within AWS's 2-1000, with a default")
    queues = 0
    for logical, fn in functions(t).items():
        for name, event in (fn["Properties"].get("Events") or {}).items():
            if event.get("Type") != "SQS":
                continue
            queues += 1
            scaling = (event.get("Properties") or {}).get("ScalingConfig") or {}
            if scaling.get("MaximumConcurrency") != {"Ref": "ProcessorMaxConcurrency"}:
                problems.append(f"{logical}: SQS event {name} lacks ScalingConfig.MaximumConcurrency: "
                                "!Ref ProcessorMaxConcurrency")
        param = logical.removesuffix("Function") + "ReservedConcurrency"
        cond = "Has" + param
        wanted = {"Fn::If": [cond, {"Ref": param}, NO_VALUE]}
        if fn["Properties"].get("ReservedConcurrentExecutions") != wanted:
            problems.append(f"{logical}: ReservedConcurrentExecutions should be "
                            f"!If [{cond}, !Ref {param}, !Ref AWS::NoValue]")
        decl = params.get(param) or {}
        if decl.get("Type") != "String" or decl.get("Default") != "":
            problems.append(f"parameter {param} should be a String defaulting to \"\" (no reservation)")
        if conditions.get(cond) != {"Fn::Not": [{"Fn::Equals": [{"Ref": param}, ""]}]}:
            problems.append(f"condition {cond} should be `{param} is not empty`")
    if not queues:
        problems.append("no function has an SQS event: the processor's queue source is gone")


REF_IN_SUB = r"\$\{%s(\.[A-Za-z]+)?\}"


def table_references(node, table, path="", guarded=False):
    """Paths where `table` (a conditional resource) is referenced outside the true branch of its `!If`."""
    param = table + "Name"
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from table_references(item, table, f"{path}[{i}]", guarded)
        return
    if isinstance(node, str):
        return
    if not isinstance(node, dict):
        return
    if list(node) == ["Fn::If"] and node["Fn::If"][0] == "Create" + table:
        _, created, given = node["Fn::If"]
        yield from table_references(created, table, path + ".If[created]", True)
        if param not in json.dumps(given):
            yield f"{path}: the existing-table branch does not name the parameter {param}"
        yield from table_references(given, table, path + ".If[given]", guarded)
        return
    if not guarded:
        if node.get("Ref") == table:
            yield f"{path}: !Ref {table}"
        get_att = node.get("Fn::GetAtt")
        if isinstance(get_att, list) and get_att and get_att[0] == table:
            yield f"{path}: !GetAtt {table}.{get_att[1]}"
        sub = node.get("Fn::Sub")
        text = sub[0] if isinstance(sub, list) else sub
        if isinstance(text, str) and re.search(REF_IN_SUB % table, text):
            yield f"{path}: !Sub naming ${{{table}}}"
    for key, value in node.items():
        yield from table_references(value, table, f"{path}.{key}", guarded)


def check_tables(t, problems):
    params, conditions = t.get("Parameters", {}), t.get("Conditions", {})
    tables = {k: v for k, v in t["Resources"].items() if v["Type"] == "AWS::DynamoDB::Table"}
    if not tables:
        problems.append("the template creates no table")
    for logical, res in tables.items():
        param, cond = logical + "Name", "Create" + logical
        if res.get("Condition") != cond:
            problems.append(f"table {logical}: should be created only under condition {cond}")
        if conditions.get(cond) != {"Fn::Equals": [{"Ref": param}, ""]}:
            problems.append(f"table {logical}: condition {cond} should be `{param} is empty`")
        if (params.get(param) or {}).get("Default") != "":
            problems.append(f"table {logical}: parameter {param} (an existing table's name) should default to \"\"")
        if res.get("DeletionPolicy") != "Retain" or res.get("UpdateReplacePolicy") != "Retain":
            problems.append(f"table {logical}: DeletionPolicy and UpdateReplacePolicy should be Retain")
        props = res.get("Properties") or {}
        if props.get("DeletionProtectionEnabled") is not True:
            problems.append(f"table {logical}: DeletionProtectionEnabled should be true")
        if not (props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled"):
            problems.append(f"table {logical}: point-in-time recovery should be on")
        for section in ("Resources", "Outputs"):
            for other, node in (t.get(section) or {}).items():
                if other == logical:
                    continue
                for where in table_references(node, logical, f"{section}.{other}"):
                    problems.append(f"table {logical} is referenced outside `!If [{cond}, …, {param}]`: {where}")
        out = (t.get("Outputs") or {}).get(param) or {}
        if out.get("Value") != {"Fn::If": [cond, {"Ref": logical}, {"Ref": param}]}:
            problems.append(f"output {param} should be !If [{cond}, !Ref {logical}, !Ref {param}]")


def http_routes(t):
    """(function, "METHOD /path") of every HttpApi event."""
    for logical, fn in functions(t).items():
        for event in (fn["Properties"].get("Events") or {}).values():
            if event.get("Type") == "HttpApi":
                p = event.get("Properties") or {}
                yield logical, f"{p.get('Method', '').upper()} {p.get('Path')}"


def check_throttling(t, problems):
    params = t.get("Parameters", {})
    apis = [v for v in t["Resources"].values() if v["Type"] == "AWS::Serverless::HttpApi"]
    if len(apis) != 1:
        problems.append("the template should have one HTTP API")
        return
    props = apis[0]["Properties"]
    default = props.get("DefaultRouteSettings") or {}
    if default.get("ThrottlingRateLimit") != {"Ref": "BillingApiRateLimit"} or \
            default.get("ThrottlingBurstLimit") != {"Ref": "BillingApiBurstLimit"}:
        problems.append("HttpApi: DefaultRouteSettings should throttle at !Ref BillingApiRateLimit / "
                        "BillingApiBurstLimit")
    settings = props.get("RouteSettings") or {}
    routes = list(http_routes(t))
    declared = {route for _, route in routes}
    usage = {route for fn, route in routes if fn == "UsageApiFunction"}
    for route in sorted(usage - set(settings)):
        problems.append(f"HttpApi: usage-api route {route!r} has no RouteSettings (it would get billing-api's limits)")
    for route in sorted(set(settings) - declared):
        problems.append(f"HttpApi: RouteSettings names {route!r}, which no function declares")
    for route in sorted(usage & set(settings)):
        s = settings[route]
        if s.get("ThrottlingRateLimit") != {"Ref": "UsageApiRateLimit"} or \
                s.get("ThrottlingBurstLimit") != {"Ref": "UsageApiBurstLimit"}:
            problems.append(f"HttpApi: route {route!r} should throttle at !Ref UsageApiRateLimit / UsageApiBurstLimit")
    for kind in ("RateLimit", "BurstLimit"):
        billing, usage_p = params.get("BillingApi" + kind), params.get("UsageApi" + kind)
        if not billing or not usage_p:
            problems.append(f"parameters BillingApi{kind} and UsageApi{kind} are required")
        elif not float(usage_p.get("Default", 0)) > float(billing.get("Default", 0)):
            problems.append(f"parameter UsageApi{kind} should default above BillingApi{kind}")
    if "ApiThrottledRequestsAlarm" not in t["Resources"]:
        problems.append("the HTTP API's throttling has no alarm (ApiThrottledRequestsAlarm)")


# --------------------------------------------------------------------------------------------------------------
# infra/bootstrap.yaml: the CI deploy roles
# --------------------------------------------------------------------------------------------------------------

OIDC_URL = "https://token.actions.githubusercontent.com"
OIDC = "token.actions.githubusercontent.com"
# What CloudFormation asks of the deploy role for each resource type of infra/template.yaml (after SAM's
# transform: the functions' roles, permissions, queue source, the HTTP API and its stage, the schedule): its main
# create/update/delete actions (cfn-lint's provider schemas list each handler's full set). A new resource type in
# the template fails here until bootstrap.yaml grants it.
TYPE_ACTIONS = {
    "AWS::Serverless::Function": ["lambda:CreateFunction", "lambda:UpdateFunctionCode",
                                  "lambda:UpdateFunctionConfiguration", "lambda:DeleteFunction", "lambda:GetFunction",
                                  "lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency",
                                  "lambda:AddPermission", "lambda:RemovePermission", "lambda:CreateEventSourceMapping",
                                  "lambda:UpdateEventSourceMapping", "iam:CreateRole", "iam:PutRolePolicy",
                                  "iam:AttachRolePolicy", "iam:GetRole", "iam:DeleteRole", "iam:PassRole",
                                  "scheduler:CreateSchedule", "scheduler:UpdateSchedule", "s3:GetObject"],
    "AWS::Serverless::HttpApi": ["apigateway:POST", "apigateway:PATCH", "apigateway:GET", "apigateway:DELETE",
                                 "logs:CreateLogDelivery", "logs:PutResourcePolicy"],
    "AWS::IAM::Role": ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRole", "iam:PassRole"],
    "AWS::DynamoDB::Table": ["dynamodb:CreateTable", "dynamodb:UpdateTable", "dynamodb:DescribeTable",
                             "dynamodb:UpdateTimeToLive", "dynamodb:UpdateContinuousBackups"],
    "AWS::SecretsManager::Secret": ["secretsmanager:CreateSecret", "secretsmanager:UpdateSecret",
                                    "secretsmanager:GetRandomPassword"],
    "AWS::SNS::Topic": ["sns:CreateTopic", "sns:SetTopicAttributes", "sns:GetTopicAttributes"],
    "AWS::SNS::Subscription": ["sns:Subscribe", "sns:Unsubscribe", "sns:SetSubscriptionAttributes"],
    "AWS::SQS::Queue": ["sqs:CreateQueue", "sqs:SetQueueAttributes", "sqs:GetQueueAttributes"],
    "AWS::SQS::QueuePolicy": ["sqs:SetQueueAttributes"],
    "AWS::Logs::LogGroup": ["logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:DeleteLogGroup"],
    "AWS::Logs::MetricFilter": ["logs:PutMetricFilter", "logs:DeleteMetricFilter"],
    "AWS::Logs::QueryDefinition": ["logs:PutQueryDefinition", "logs:DeleteQueryDefinition"],
    "AWS::CloudWatch::Alarm": ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms"],
    "AWS::CloudWatch::Dashboard": ["cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"],
    "AWS::ApiGatewayV2::DomainName": ["apigateway:POST", "apigateway:GET", "apigateway:PATCH", "apigateway:DELETE"],
    "AWS::ApiGatewayV2::ApiMapping": ["apigateway:POST", "apigateway:GET", "apigateway:DELETE"],
    "AWS::Route53::RecordSet": ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets",
                                "route53:GetChange"],
}
# What deploy.yml itself does with the role: sam deploy, entitle setup --dry-run, the smoke test.
DEPLOY_ACTIONS = ["cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet",
                  "cloudformation:DescribeChangeSet", "cloudformation:DescribeStacks",
                  "cloudformation:DescribeStackEvents", "s3:PutObject", "s3:ListBucket",
                  "secretsmanager:GetSecretValue", "lambda:InvokeFunction"]
BOUNDARY_ACTIONS = {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy",
                    "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary"}


def listed(value):
    return value if isinstance(value, list) else [value]


def policy_statements(doc):
    for st in (doc or {}).get("Statement") or []:
        if isinstance(st, dict) and list(st) == ["Fn::If"]:
            st = st["Fn::If"][1]  # the conditional statements' content
        if isinstance(st, dict) and st.get("Effect") == "Allow":
            yield st


def check_trust(b, logical, role, problems):
    params, conditions = b.get("Parameters", {}), b.get("Conditions", {})
    doc = role["Properties"].get("AssumeRolePolicyDocument") or {}
    statements = doc.get("Statement") or []
    if len(statements) != 1:
        problems.append(f"bootstrap {logical}: the trust policy should have exactly one statement")
        return None
    st = statements[0]
    federated = (st.get("Principal") or {}).get("Federated")
    if st.get("Effect") != "Allow" or st.get("Action") != "sts:AssumeRoleWithWebIdentity" or \
            federated != {"Fn::If": ["CreateOidcProvider", {"Ref": "GitHubOidcProvider"},
                                     {"Ref": "GitHubOidcProviderArn"}]}:
        problems.append(f"bootstrap {logical}: the trust should allow sts:AssumeRoleWithWebIdentity to GitHub's OIDC "
                        "provider only (!If [CreateOidcProvider, !Ref GitHubOidcProvider, !Ref GitHubOidcProviderArn])")
    condition = st.get("Condition") or {}
    if list(condition) != ["StringEquals"]:
        problems.append(f"bootstrap {logical}: the trust condition should be StringEquals alone (no StringLike, no "
                        f"wildcards), not {sorted(condition)}")
    equals = condition.get("StringEquals") or {}
    if set(equals) != {f"{OIDC}:aud", f"{OIDC}:sub"}:
        problems.append(f"bootstrap {logical}: the trust should compare exactly {OIDC}:aud and {OIDC}:sub")
    if equals.get(f"{OIDC}:aud") != "sts.amazonaws.com":
        problems.append(f"bootstrap {logical}: {OIDC}:aud should be sts.amazonaws.com")
    sub = equals.get(f"{OIDC}:sub")
    m = re.fullmatch(r"repo:\$\{GitHubOrg\}/\$\{GitHubRepo\}:environment:\$\{(\w+)\}",
                     sub.get("Fn::Sub", "") if isinstance(sub, dict) else "")
    if not m:
        problems.append(f"bootstrap {logical}: {OIDC}:sub should be !Sub "
                        "repo:${GitHubOrg}/${GitHubRepo}:environment:${<environment parameter>}")
        return None
    env = m.group(1)
    # The parameters that make up the subject refuse what would widen or shift it.
    for name in ("GitHubOrg", "GitHubRepo", env):
        pattern = (params.get(name) or {}).get("AllowedPattern")
        if not pattern or any(re.fullmatch(pattern, bad) for bad in ("*", "a*", "a:b", "a/b", "a?")):
            problems.append(f"bootstrap {logical}: parameter {name} should exist with an AllowedPattern that refuses "
                            "`*`, `?`, `:` and `/`")
    for name in ("GitHubOrg", "GitHubRepo"):
        if "Default" in (params.get(name) or {}):
            problems.append(f"bootstrap: parameter {name} should have no default (a deploy must name the repository)")
    cond = role.get("Condition")
    if cond and conditions.get(cond) != {"Fn::Not": [{"Fn::Equals": [{"Ref": env}, ""]}]}:
        problems.append(f"bootstrap {logical}: condition {cond} should be `{env} is not empty`")
    return env


def check_bootstrap(b, t, problems):
    resources = b.get("Resources", {})
    providers = {k: v for k, v in resources.items() if v["Type"] == "AWS::IAM::OIDCProvider"}
    provider = providers.get("GitHubOidcProvider")
    if not provider or len(providers) != 1:
        problems.append("bootstrap: one AWS::IAM::OIDCProvider, GitHubOidcProvider, is expected")
    else:
        if provider.get("Condition") != "CreateOidcProvider" or (b.get("Conditions") or {}).get(
                "CreateOidcProvider") != {"Fn::Equals": [{"Ref": "GitHubOidcProviderArn"}, ""]}:
            problems.append("bootstrap: GitHubOidcProvider should be created only when GitHubOidcProviderArn is empty")
        props = provider.get("Properties") or {}
        if props.get("Url") != OIDC_URL or props.get("ClientIdList") != ["sts.amazonaws.com"]:
            problems.append(f"bootstrap: GitHubOidcProvider should be {OIDC_URL} for the audience sts.amazonaws.com")
    roles = {k: v for k, v in resources.items() if v["Type"] == "AWS::IAM::Role"}
    if not roles:
        problems.append("bootstrap: no deploy role")
    environments = []
    needed = set(DEPLOY_ACTIONS)
    for logical, res in t["Resources"].items():
        if res["Type"] not in TYPE_ACTIONS:
            problems.append(f"bootstrap: no deploy permissions known for {res['Type']} ({logical}): grant them in "
                            "infra/bootstrap.yaml and list them in TYPE_ACTIONS")
        needed.update(TYPE_ACTIONS.get(res["Type"], []))
    for logical, role in roles.items():
        env = check_trust(b, logical, role, problems)
        environments.append(env)
        statements = []
        for arn in role["Properties"].get("ManagedPolicyArns") or []:
            policy = resources.get(arn.get("Ref")) if isinstance(arn, dict) else None
            if not policy or policy["Type"] != "AWS::IAM::ManagedPolicy":
                problems.append(f"bootstrap {logical}: managed policy {arn} is not one of this template's")
                continue
            statements.extend(policy_statements(policy["Properties"].get("PolicyDocument")))
        for policy in role["Properties"].get("Policies") or []:
            statements.extend(policy_statements(policy.get("PolicyDocument")))
        granted = set()
        for st in statements:
            actions = listed(st.get("Action"))
            granted.update(actions)
            where = f"bootstrap {logical}: statement {st.get('Sid', '?')}"
            if any(a == "*" or a.endswith(":*") for a in actions):
                problems.append(f"{where} grants a whole service ({actions})")
            cond = json.dumps(st.get("Condition") or {})
            if BOUNDARY_ACTIONS & set(actions):
                boundary = ((st.get("Condition") or {}).get("StringEquals") or {}).get("iam:PermissionsBoundary")
                if not (isinstance(boundary, dict) and resources.get(boundary.get("Ref"), {}).get("Type")
                        == "AWS::IAM::ManagedPolicy"):
                    problems.append(f"{where}: {sorted(BOUNDARY_ACTIONS & set(actions))} without the condition "
                                    "iam:PermissionsBoundary = this template's boundary policy")
            if any(a.startswith("iam:") for a in actions):
                for r in listed(st.get("Resource")):
                    text = r.get("Fn::Sub") if isinstance(r, dict) else r
                    if not (isinstance(text, str) and re.search(r":role/\$\{\w+StackName\}/\*$", text)):
                        problems.append(f"{where}: IAM actions on {r}, not the stack's role path role/${{stack}}/*")
            if "iam:PassRole" in actions and "iam:PassedToService" not in cond:
                problems.append(f"{where}: iam:PassRole without iam:PassedToService")
        for action in sorted(needed - granted):
            problems.append(f"bootstrap {logical}: lacks {action} (what infra/template.yaml's deploy needs)")
        outputs = b.get("Outputs") or {}
        if not any(o.get("Value") == {"Fn::GetAtt": [logical, "Arn"]} for o in outputs.values()):
            problems.append(f"bootstrap {logical}: no output gives its ARN (the environment's AWS_DEPLOY_ROLE_ARN)")
    if len(set(environments)) != len(environments):
        problems.append("bootstrap: two roles trust the same environment parameter")
    # infra/template.yaml's side: its roles sit where the deploy role may manage them, with the boundary.
    glob = (t.get("Globals") or {}).get("Function") or {}
    boundary = {"Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundaryArn"}, NO_VALUE]}
    if glob.get("RolePath") != {"Fn::Sub": "/${AWS::StackName}/"} or glob.get("PermissionsBoundary") != boundary:
        problems.append("template: Globals.Function should set RolePath /${AWS::StackName}/ and PermissionsBoundary "
                        "!If [HasPermissionsBoundary, !Ref PermissionsBoundaryArn, !Ref AWS::NoValue]")
    for logical, res in t["Resources"].items():
        if res["Type"] == "AWS::IAM::Role":
            p = res.get("Properties") or {}
            if p.get("Path") != {"Fn::Sub": "/${AWS::StackName}/"} or p.get("PermissionsBoundary") != boundary:
                problems.append(f"template: role {logical} should have Path /${{AWS::StackName}}/ and the boundary")
        for event in ((res.get("Properties") or {}).get("Events") or {}).values():
            if event.get("Type") in ("ScheduleV2", "Schedule"):
                props = event.get("Properties") or {}
                if "RoleArn" not in props or "AWS::StackName" not in json.dumps(props.get("Name")):
                    problems.append(f"template: {logical}'s schedule should have its own RoleArn (a role with the "
                                    "path and boundary) and a Name with the stack's name (unique per account)")


def check_custom_domain(t, problems):
    """The optional custom domain: made only when ApiDomainName is set, mapping the HTTP API's $default stage, and
    the webhook URL outputs (what `entitle setup` registers in Stripe and Clerk) on it when it is set."""
    resources = t.get("Resources", {})
    params = t.get("Parameters", {})
    for name in ("ApiDomainName", "ApiCertificateArn", "ApiHostedZoneId"):
        if params.get(name, {}).get("Default") != "":
            problems.append(f"custom domain: parameter {name} should exist and default to \"\" (off)")
    conditions = t.get("Conditions", {})
    if conditions.get("HasApiDomain") != {"Fn::Not": [{"Fn::Equals": [{"Ref": "ApiDomainName"}, ""]}]}:
        problems.append("custom domain: condition HasApiDomain should be !Not [!Equals [!Ref ApiDomainName, \"\"]]")
    domains = {k: v for k, v in resources.items() if v["Type"] == "AWS::ApiGatewayV2::DomainName"}
    mappings = {k: v for k, v in resources.items() if v["Type"] == "AWS::ApiGatewayV2::ApiMapping"}
    if not domains or not mappings:
        problems.append("custom domain: an AWS::ApiGatewayV2::DomainName and an ApiMapping are expected")
    for logical, res in {**domains, **mappings}.items():
        if res.get("Condition") != "HasApiDomain":
            problems.append(f"custom domain: {logical} should have Condition HasApiDomain (no domain by default)")
    for logical, res in domains.items():
        config = ((res.get("Properties") or {}).get("DomainNameConfigurations") or [{}])[0]
        certificate = {"Fn::If": ["HasApiCertificate", {"Ref": "ApiCertificateArn"}, NO_VALUE]}
        if (res.get("Properties") or {}).get("DomainName") != {"Ref": "ApiDomainName"} or config.get(
                "CertificateArn") != certificate or config.get("EndpointType") != "REGIONAL":
            problems.append(f"custom domain: {logical} should be ApiDomainName with ApiCertificateArn, REGIONAL")
    for logical, res in mappings.items():
        props = res.get("Properties") or {}
        if props.get("ApiId") != {"Ref": "HttpApi"} or props.get("Stage") != "$default":
            problems.append(f"custom domain: {logical} should map HttpApi's $default stage")
    for logical, res in resources.items():
        if res["Type"] == "AWS::Route53::RecordSet" and res.get("Condition") != "HasApiDomainRecord":
            problems.append(f"custom domain: {logical} should have Condition HasApiDomainRecord")
    outputs = t.get("Outputs", {})
    for name, path in (("StripeWebhookUrl", "/webhooks/stripe"), ("ClerkWebhookUrl", "/webhooks/clerk")):
        value = (outputs.get(name) or {}).get("Value")
        branches = value.get("Fn::If") if isinstance(value, dict) else None
        if not (branches and branches[0] == "HasApiDomain"
                and branches[1] == {"Fn::Sub": f"https://${{ApiDomainName}}{path}"}):
            problems.append(f"custom domain: output {name} should be !If [HasApiDomain, "
                            f"https://${{ApiDomainName}}{path}, the execute-api URL]")


def check_deploy_config(samconfig, workflow, problems):
    """One place for each environment's parameters: samconfig.toml's section, which deploy.yml deploys."""
    job = next(iter((workflow.get("jobs") or {}).values()), {})
    on = workflow.get("on") or workflow.get(True) or {}  # PyYAML reads the key `on` as True
    options = (((on.get("workflow_dispatch") or {}).get("inputs") or {}).get("environment") or {}).get("options", [])
    if not options:
        problems.append("deploy.yml: workflow_dispatch has no environment choice")
    for env in options:
        section = samconfig.get(env) or {}
        stack = ((section.get("global") or {}).get("parameters") or {}).get("stack_name")
        if not stack:
            problems.append(f"samconfig.toml: environment {env} (deploy.yml's) has no [{env}.global.parameters] "
                            "stack_name")
        deploy = (section.get("deploy") or {}).get("parameters") or {}
        if deploy.get("resolve_s3") and deploy.get("s3_prefix") != stack:
            problems.append(f"samconfig.toml: [{env}.deploy.parameters] s3_prefix should be the stack's name "
                            "(the bootstrap's deploy role writes only there)")
        for cmd in ("build", "validate"):
            if not ((section.get(cmd) or {}).get("parameters") or {}).get("template_file"):
                problems.append(f"samconfig.toml: [{env}.{cmd}.parameters] is missing (make package uses it)")
    runs = [st.get("run", "") for st in job.get("steps") or []]
    deploys = [line for r in runs for line in re.findall(r"^\s*(?:\S*/)?sam deploy\b.*$", r, re.M)]
    if not deploys:
        problems.append("deploy.yml: no `sam deploy` step")
    for run in deploys:
        if "--config-env" not in run:
            problems.append("deploy.yml: `sam deploy` without --config-env (samconfig.toml's environment)")
        if "--parameter-overrides" in run:
            problems.append("deploy.yml: `sam deploy --parameter-overrides` overrides samconfig.toml, the one place "
                            "for each environment's parameters")


def problems_of(t, b, samconfig=None, workflow=None, emitted=None) -> list[str]:
    """Every problem of infra/template.yaml `t`, infra/bootstrap.yaml `b`, samconfig.toml and deploy.yml."""
    emitted = emitted_metrics() if emitted is None else emitted
    problems = []
    check_parameters(t, problems)
    check_secrets(t, problems)
    alarms = check_alarms(t, emitted, problems)
    check_one_list(t, emitted, alarms, problems)
    check_concurrency(t, problems)
    check_no_crash_points(t, problems)
    check_tables(t, problems)
    check_throttling(t, problems)
    check_bootstrap(b, t, problems)
    check_custom_domain(t, problems)
    if samconfig is not None and workflow is not None:
        check_deploy_config(samconfig, workflow, problems)
    return problems


def load_all(template: Path, bootstrap: Path):
    return (load_template(template.read_text()), load_template(bootstrap.read_text()),
            tomllib.loads((ROOT / "samconfig.toml").read_text()),
            yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text()))


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "infra" / "template.yaml"
    bootstrap = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "infra" / "bootstrap.yaml"
    t, b, samconfig, workflow = load_all(path, bootstrap)
    emitted = emitted_metrics()
    problems = problems_of(t, b, samconfig, workflow, emitted)
    for p in problems:
        print(f"check-template: {p}", file=sys.stderr)
    if problems:
        return 1
    alarms = [k for k, v in t["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"]
    tables = [k for k, v in t["Resources"].items() if v["Type"] == "AWS::DynamoDB::Table"]
    roles = [k for k, v in b["Resources"].items() if v["Type"] == "AWS::IAM::Role"]
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"check-template: {shown}: {len(alarms)} alarms on the alarm topic, {len(emitted)} metrics graphed and "
          f"documented, secrets and their IAM consistent, {len(tables)} tables retained, protected and reattachable, "
          "concurrency and per-route throttles wired, the custom domain optional; "
          f"{bootstrap.relative_to(ROOT) if bootstrap.is_relative_to(ROOT) else bootstrap}: {len(roles)} deploy roles "
          "trusting one repository environment each, with the boundary and the template's actions; samconfig.toml "
          "and deploy.yml: one place per environment")
    return 0


if __name__ == "__main__":
    sys.exit(main())

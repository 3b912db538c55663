#!/usr/bin/env python3
"""Local AWS for development and tests: a moto server with the SAM template's stack deployed into it.

    .venv/bin/python scripts/local_aws.py start --env-file .local/aws.env [--port N]
    .venv/bin/python scripts/local_aws.py stop  --env-file .local/aws.env

`start` launches moto detached (own process group, log in .local/moto.log), creates the CloudFormation stack
`entitle` from infra/template.yaml, then creates what moto's CloudFormation silently skips but the code relies
on: every `AWS::SNS::Subscription` declared in the template (raw delivery, filter policies), resolved against the
stack's own resources. Nothing is hard-coded here: the template is the one source. It finally writes an env file
(`export NAME=value` lines) with the endpoint, dummy credentials, the moto pid and one variable per stack output.

`stop` kills the moto process group recorded in the env file and removes the file. It never fails if the server
is already gone.

Always uses dummy credentials (test/test, us-east-1) and ignores any AWS profile or config on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "infra" / "template.yaml"
DEFAULT_LOG = REPO_ROOT / ".local" / "moto.log"
STACK_NAME = "entitle"
REGION = "us-east-1"
DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}
# Anything that could point boto3 (or moto) at a real account or another endpoint.
SCRUB_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
)
OUTPUT_NAME_OVERRIDES = {
    "IdempotencyTableName": "IDEMPOTENCY_TABLE",
    "BillingEventsTopicArn": "BILLING_EVENTS_TOPIC_ARN",
    "EntitlementQueueUrl": "ENTITLEMENT_QUEUE_URL",
    "EntitlementDeadLetterQueueUrl": "ENTITLEMENT_DLQ_URL",
}
# Values for the template's required parameters (those without a Default). A real deploy gets them from
# `sam deploy --guided` (docs/deploy.md); locally the functions take their configuration from the environment,
# so these only let the stack be created.
LOCAL_PARAMETERS = {
    "ClerkFrontendApi": "clerk.entitle.localhost",
    "AllowedOrigins": "http://localhost:3000",
    "AllowedRedirectOrigins": "http://localhost:3000",
}
START_TIMEOUT_S = 20.0
STOP_GRACE_S = 5.0


class LocalAwsError(Exception):
    pass


def log(msg: str) -> None:
    print(f"local-aws: {msg}", file=sys.stderr, flush=True)


def sanitize_environment() -> dict:
    """Dummy credentials for this process and the moto child; no profile, no config files, no IMDS."""
    for name in list(os.environ):
        if name in SCRUB_ENV or name.startswith("AWS_ENDPOINT_URL_"):
            del os.environ[name]
    os.environ.update(DUMMY_ENV)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    return dict(os.environ)


# --------------------------------------------------------------------------------------------------------------
# Template parsing (CloudFormation short tags -> long form)
# --------------------------------------------------------------------------------------------------------------


def load_template(text: str) -> dict:
    import yaml

    class CfnLoader(yaml.SafeLoader):
        pass

    def construct_tag(loader, tag_suffix, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if tag_suffix == "Ref":
            return {"Ref": value}
        if tag_suffix == "Condition":
            return {"Condition": value}
        if tag_suffix == "GetAtt" and isinstance(value, str):
            logical, _, attr = value.partition(".")
            value = [logical, attr]
        return {f"Fn::{tag_suffix}": value}

    CfnLoader.add_multi_constructor("!", construct_tag)
    # CloudFormation treats timestamps-looking strings (e.g. "2010-09-09") as strings.
    CfnLoader.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    doc = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(doc, dict):
        raise LocalAwsError("template is not a mapping")
    return doc


# --------------------------------------------------------------------------------------------------------------
# Intrinsic resolution against the deployed stack
# --------------------------------------------------------------------------------------------------------------

_NO_VALUE = object()


class Resolver:
    def __init__(self, template: dict, session, endpoint: str, stack: dict, resources: list[dict]):
        self.template = template
        self.session = session
        self.endpoint = endpoint
        self.stack = stack
        self.physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in resources}
        self.params = {}
        for name, decl in (template.get("Parameters") or {}).items():
            if isinstance(decl, dict) and "Default" in decl:
                self.params[name] = str(decl["Default"])
        for p in stack.get("Parameters") or []:
            if p.get("ParameterValue") is not None:
                self.params[p["ParameterKey"]] = p["ParameterValue"]
        self._clients = {}
        self._account = None
        self._conditions = {}

    def client(self, service):
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint)
        return self._clients[service]

    def account_id(self) -> str:
        if self._account is None:
            self._account = self.client("sts").get_caller_identity()["Account"]
        return self._account

    # -- conditions --
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            decl = (self.template.get("Conditions") or {}).get(name)
            if decl is None:
                raise LocalAwsError(f"unknown condition {name!r}")
            self._conditions[name] = bool(self.eval_condition(decl))
        return self._conditions[name]

    def eval_condition(self, node) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            (key, val), = node.items()
            if key == "Condition":
                return self.condition(val)
            if key == "Fn::Equals":
                a, b = (self.resolve(v) for v in val)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.eval_condition(val[0])
            if key == "Fn::And":
                return all(self.eval_condition(v) for v in val)
            if key == "Fn::Or":
                return any(self.eval_condition(v) for v in val)
        raise LocalAwsError(f"unsupported condition expression: {node!r}")

    # -- values --
    def resource_type(self, logical: str) -> str:
        res = (self.template.get("Resources") or {}).get(logical)
        if not isinstance(res, dict):
            raise LocalAwsError(f"unknown resource {logical!r}")
        return res.get("Type", "")

    def ref(self, name: str):
        pseudo = {
            "AWS::Region": REGION,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack.get("StackName", STACK_NAME),
            "AWS::StackId": self.stack.get("StackId", ""),
        }
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name == "AWS::AccountId":
            return self.account_id()
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return self.params[name]
        physical = self.physical.get(name)
        if not physical:
            kind = self.resource_type(name)
            raise LocalAwsError(f"Ref {name} ({kind}): no physical resource in stack {STACK_NAME}")
        return physical

    def get_att(self, logical: str, attr: str):
        kind = self.resource_type(logical)
        physical = self.ref(logical)
        if kind == "AWS::SQS::Queue":
            if attr == "Arn":
                attrs = self.client("sqs").get_queue_attributes(QueueUrl=physical, AttributeNames=["QueueArn"])
                return attrs["Attributes"]["QueueArn"]
            if attr == "QueueName":
                return physical.rstrip("/").rsplit("/", 1)[-1]
            if attr == "QueueUrl":
                return physical
        elif kind == "AWS::SNS::Topic":
            if attr == "TopicArn":
                return physical
            if attr == "TopicName":
                return physical.rsplit(":", 1)[-1]
        elif kind == "AWS::DynamoDB::Table":
            if attr in ("Arn", "StreamArn"):
                table = self.client("dynamodb").describe_table(TableName=physical)["Table"]
                return table["TableArn"] if attr == "Arn" else table.get("LatestStreamArn")
        raise LocalAwsError(f"Fn::GetAtt {logical}.{attr} ({kind}) is not supported by local_aws.py")

    def sub(self, val):
        if isinstance(val, list):
            text, variables = val[0], {k: self.resolve(v) for k, v in (val[1] if len(val) > 1 else {}).items()}
        else:
            text, variables = val, {}

        def repl(m):
            expr = m.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return str(variables[expr])
            if "." in expr and not expr.startswith("AWS::"):
                logical, _, attr = expr.partition(".")
                return str(self.get_att(logical, attr))
            return str(self.ref(expr))

        return re.sub(r"\$\{([^}]*)\}", repl, text)

    def resolve(self, node):
        if isinstance(node, list):
            out = [self.resolve(v) for v in node]
            return [v for v in out if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, val), = node.items()
            if key == "Ref":
                return self.ref(val)
            if key == "Fn::GetAtt":
                if isinstance(val, str):
                    val = val.split(".", 1)
                return self.get_att(val[0], self.resolve(val[1]))
            if key == "Fn::Sub":
                return self.sub(val)
            if key == "Fn::Join":
                sep, items = val
                return str(sep).join(str(v) for v in self.resolve(items))
            if key == "Fn::Select":
                idx, items = val
                return self.resolve(items)[int(self.resolve(idx))]
            if key == "Fn::Split":
                sep, text = val
                return str(self.resolve(text)).split(sep)
            if key == "Fn::If":
                cond, yes, no = val
                return self.resolve(yes if self.condition(cond) else no)
            if key == "Fn::ImportValue":
                raise LocalAwsError("Fn::ImportValue is not supported locally")
        out = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not _NO_VALUE}


# --------------------------------------------------------------------------------------------------------------
# Subscriptions (moto's CloudFormation skips AWS::SNS::Subscription)
# --------------------------------------------------------------------------------------------------------------


def _attr_string(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def create_subscriptions(template: dict, resolver: Resolver) -> list[str]:
    sns = resolver.client("sns")
    created = []
    for logical, res in (template.get("Resources") or {}).items():
        if not isinstance(res, dict) or res.get("Type") != "AWS::SNS::Subscription":
            continue
        if "Condition" in res and not resolver.condition(res["Condition"]):
            continue
        props = resolver.resolve(res.get("Properties") or {})
        topic_arn, protocol, endpoint = props.get("TopicArn"), props.get("Protocol"), props.get("Endpoint")
        if not topic_arn or not protocol:
            raise LocalAwsError(f"{logical}: TopicArn and Protocol are required")
        attributes = {}
        for name in ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy",
                     "DeliveryPolicy", "ReplayPolicy", "SubscriptionRoleArn"):
            if name in props:
                attributes[name] = _attr_string(props[name])

        existing = None
        paginator = sns.get_paginator("list_subscriptions_by_topic")
        for page in paginator.paginate(TopicArn=topic_arn):
            for sub in page.get("Subscriptions", []):
                if sub["Protocol"] == protocol and sub.get("Endpoint") == endpoint:
                    existing = sub["SubscriptionArn"]
        if existing:
            for name, value in attributes.items():
                sns.set_subscription_attributes(SubscriptionArn=existing, AttributeName=name,
                                                AttributeValue=value)
        else:
            kwargs = {"TopicArn": topic_arn, "Protocol": protocol, "ReturnSubscriptionArn": True}
            if endpoint:
                kwargs["Endpoint"] = endpoint
            if attributes:
                kwargs["Attributes"] = attributes
            sns.subscribe(**kwargs)
        extras = ", ".join(f"{k}={v}" for k, v in attributes.items())
        created.append(f"{logical}: {protocol} {endpoint} <- {topic_arn.rsplit(':', 1)[-1]}"
                       + (f" ({extras})" if extras else ""))
    return created


# --------------------------------------------------------------------------------------------------------------
# Stack
# --------------------------------------------------------------------------------------------------------------


def stack_parameters(template: dict) -> list[dict]:
    """The template's required parameters with their LOCAL_PARAMETERS values (moto refuses a stack without them)."""
    params, missing = [], []
    for name, decl in (template.get("Parameters") or {}).items():
        if isinstance(decl, dict) and "Default" in decl:
            continue
        if name in LOCAL_PARAMETERS:
            params.append({"ParameterKey": name, "ParameterValue": LOCAL_PARAMETERS[name]})
        else:
            missing.append(name)
    if missing:
        raise LocalAwsError(f"required template parameter(s) without a local value: {', '.join(missing)} "
                            "(add them to LOCAL_PARAMETERS in scripts/local_aws.py)")
    return params


def deploy_stack(session, endpoint: str, template_text: str, parameters: list[dict]):
    cfn = session.client("cloudformation", endpoint_url=endpoint)
    try:
        cfn.create_stack(
            StackName=STACK_NAME,
            TemplateBody=template_text,
            Parameters=parameters,
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
    except Exception as e:  # noqa: BLE001 - botocore ClientError / ResponseParserError
        if "ValidationError" in str(e):
            raise LocalAwsError(f"create_stack failed: {e}") from e
        # moto creates the resources inside CreateStack and answers a bare HTTP 500 when one of them raises.
        raise LocalAwsError("create_stack failed inside moto (HTTP 500).\n"
                            + diagnose_in_process(template_text, parameters)) from e

    deadline = time.monotonic() + 60
    while True:
        stack = cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
        status = stack["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            break
        if time.monotonic() > deadline:
            raise LocalAwsError(f"stack {STACK_NAME} still {status} after 60 s")
        time.sleep(0.1)

    if status != "CREATE_COMPLETE":
        lines = [f"stack {STACK_NAME} is {status}"]
        if stack.get("StackStatusReason"):
            lines.append(f"  reason: {stack['StackStatusReason']}")
        try:
            events = cfn.describe_stack_events(StackName=STACK_NAME)["StackEvents"]
        except Exception:  # noqa: BLE001
            events = []
        for ev in reversed(events):
            if "FAILED" in ev.get("ResourceStatus", ""):
                lines.append(f"  {ev.get('LogicalResourceId')} ({ev.get('ResourceType')}): "
                             f"{ev.get('ResourceStatus')} {ev.get('ResourceStatusReason', '')}")
        raise LocalAwsError("\n".join(lines))

    resources = []
    paginator = cfn.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=STACK_NAME):
        resources.extend(page["StackResourceSummaries"])
    return stack, resources


def diagnose_in_process(template_text: str, parameters: list[dict]) -> str:
    """Replays CreateStack with moto in-process, where its exception (and the resource at fault) is visible."""
    import traceback

    try:
        import boto3
        from moto import mock_aws
    except ImportError as e:
        return f"  (cannot replay in-process: {e})"
    try:
        with mock_aws():
            boto3.client("cloudformation", region_name=REGION).create_stack(
                StackName=STACK_NAME,
                TemplateBody=template_text,
                Parameters=parameters,
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            )
    except Exception as e:  # noqa: BLE001
        where = ""
        tb = e.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_code.co_name == "parse_and_create_resource" and "logical_id" in frame.f_locals:
                res = frame.f_locals.get("resource_json") or {}
                kind = res.get("Type", "?") if isinstance(res, dict) else "?"
                where = f"{frame.f_locals['logical_id']} ({kind})"
            tb = tb.tb_next
        last = traceback.format_exception(type(e), e, e.__traceback__)[-3:]
        return (f"  resource: {where or 'unknown'}\n  {type(e).__name__}: {e}\n"
                + "".join("  " + line for chunk in last[:-1] for line in chunk.splitlines(True))).rstrip()
    return "  (the in-process replay succeeded; see the moto log)"


def output_env_name(key: str) -> str:
    if key in OUTPUT_NAME_OVERRIDES:
        return OUTPUT_NAME_OVERRIDES[key]
    base = key[:-4] if key.endswith("Name") and len(key) > 4 else key
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", base)
    return re.sub(r"[^A-Za-z0-9_]", "_", snake).upper()


# --------------------------------------------------------------------------------------------------------------
# moto server process
# --------------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def moto_command(port: int) -> list[str]:
    # One request at a time: moto's threaded server lets racing conditional writes both pass (see the script).
    serial = REPO_ROOT / "scripts" / "moto_serial.py"
    return [sys.executable, str(serial), "-H", "127.0.0.1", "-p", str(port)]


def spawn_moto(port: int, log_path: Path, env: dict) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if log_path.exists() and log_path.stat().st_size > 5_000_000:
        log_path.unlink()
    with open(log_path, "ab") as logf:
        logf.write(f"\n==== moto on 127.0.0.1:{port} ({time.strftime('%Y-%m-%d %H:%M:%S')}) ====\n".encode())
        logf.flush()
        return subprocess.Popen(
            moto_command(port),
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(REPO_ROOT),
            start_new_session=True,  # own session and process group: survives us, killable as a group
            close_fds=True,
        )


def wait_ready(proc: subprocess.Popen, port: int, timeout: float) -> bool:
    url = f"http://127.0.0.1:{port}/moto-api/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                resp.read()
            return True
        except urllib.error.HTTPError:
            return True  # it answered
        except OSError:
            time.sleep(0.05)
    return False


def kill_group(pid: int, grace: float = STOP_GRACE_S) -> None:
    def alive() -> bool:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # A zombie leader (not yet reaped by init) counts as gone.
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
                return False
        except (OSError, IndexError):
            pass
        return True

    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)  # reap if it is our child
        except ChildProcessError:
            pass
        if not alive():
            return
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def looks_like_moto(pid: int) -> bool:
    """Guard against a recycled pid: on Linux check the command line; elsewhere trust the env file."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not Path("/proc/self").exists():
        return True
    try:
        return b"moto" in cmdline.read_bytes()
    except OSError:
        return False


# --------------------------------------------------------------------------------------------------------------
# Env file
# --------------------------------------------------------------------------------------------------------------


def write_env_file(path: Path, values: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by scripts/local_aws.py; source it in bash. Removed by `local_aws.py stop`."]
    lines += [f"export {k}={shlex.quote(str(v))}" for k, v in values.items()]
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=".env.")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def read_env_file(path: Path) -> dict:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export "):]
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw)
        except ValueError:
            continue
        values[name.strip()] = parts[0] if parts else ""
    return values


# --------------------------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------------------------


def _raise_exit(signum, _frame):
    raise SystemExit(128 + signum)


def cmd_start(args) -> int:
    t0 = time.monotonic()
    env = sanitize_environment()
    env_file = Path(args.env_file)
    template_path = Path(args.template)
    try:
        template_text = template_path.read_text()
    except OSError as e:
        log(f"cannot read template: {e}")
        return 1
    # SIGTERM/SIGHUP while starting must not leak the detached server: unwind through the cleanup below.
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGHUP, _raise_exit)

    attempts = 1 if args.port else 3
    template = None
    proc = None
    try:
        for _ in range(attempts):
            port = args.port or free_port()
            proc = spawn_moto(port, Path(args.log), env)
            # Record the pid at once so that `stop` can always find the server.
            write_env_file(env_file, {"LOCAL_AWS_PID": proc.pid})
            if template is None:
                # Parse the template and import boto3 while moto boots.
                try:
                    template = load_template(template_text)
                except Exception as e:  # noqa: BLE001
                    raise LocalAwsError(f"cannot parse {template_path}: {e}") from e
                import boto3  # noqa: F401
            if wait_ready(proc, port, START_TIMEOUT_S):
                break
            kill_group(proc.pid)
            log(f"moto did not come up on port {port} (see {args.log})")
            proc = None
        if proc is None:
            raise LocalAwsError("could not start moto")

        import boto3

        endpoint = f"http://127.0.0.1:{port}"
        session = boto3.session.Session(
            aws_access_key_id=DUMMY_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        )
        stack, resources = deploy_stack(session, endpoint, template_text, stack_parameters(template))
        resolver = Resolver(template, session, endpoint, stack, resources)
        subscriptions = create_subscriptions(template, resolver)

        values = {"AWS_ENDPOINT_URL": endpoint, **DUMMY_ENV, "LOCAL_AWS_PID": proc.pid}
        # moto's CloudFormation names queues by their AWS URL (https://sqs.<region>.amazonaws.com/...);
        # hand out the local URL instead, as GetQueueUrl/ListQueues against the endpoint return it.
        local_queue_urls = {}
        for r in resources:
            if r.get("ResourceType") == "AWS::SQS::Queue" and r.get("PhysicalResourceId"):
                name = r["PhysicalResourceId"].rstrip("/").rsplit("/", 1)[-1]
                local_queue_urls[r["PhysicalResourceId"]] = resolver.client("sqs").get_queue_url(
                    QueueName=name)["QueueUrl"]
        skipped = []
        for out in stack.get("Outputs") or []:
            value = str(out.get("OutputValue", ""))
            if "${" in value:
                skipped.append(out["OutputKey"])
                continue
            values[output_env_name(out["OutputKey"])] = local_queue_urls.get(value, value)
        write_env_file(env_file, values)
    except BaseException as e:  # noqa: BLE001 - also Ctrl-C / SIGTERM: never leave the server behind
        if proc is not None:
            kill_group(proc.pid)
        try:
            env_file.unlink()
        except OSError:
            pass
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            log("interrupted; moto stopped")
            return 130 if isinstance(e, KeyboardInterrupt) else (e.code if isinstance(e.code, int) else 1)
        msg = str(e) if isinstance(e, LocalAwsError) else f"{type(e).__name__}: {e}"
        log(f"failed: {msg}")
        return 1

    # moto lists the resources it skipped with an empty logical id.
    created = sorted(r["LogicalResourceId"] for r in resources
                     if r.get("LogicalResourceId") and r.get("ResourceStatus", "").endswith("_COMPLETE"))
    not_created = sorted(set(template.get("Resources") or {}) - set(created))
    log(f"moto on {endpoint} (pid {proc.pid}, log {args.log}), ready in {time.monotonic() - t0:.1f} s")
    log(f"stack {STACK_NAME}: {len(created)} resources created ({', '.join(created)})")
    if not_created:
        log(f"  not created by moto: {', '.join(not_created)}")
    log(f"subscriptions created: {len(subscriptions)}")
    for line in subscriptions:
        log(f"  {line}")
    if skipped:
        log(f"outputs skipped (unresolved serverless resources): {', '.join(skipped)}")
    log(f"env file: {env_file}")
    return 0


def cmd_stop(args) -> int:
    env_file = Path(args.env_file)
    try:
        values = read_env_file(env_file)
    except OSError:
        return 0
    pid_text = values.get("LOCAL_AWS_PID", "")
    if pid_text.isdigit():
        pid = int(pid_text)
        if looks_like_moto(pid):
            try:
                kill_group(pid)
            except OSError as e:
                log(f"could not stop pid {pid}: {e}")
    try:
        env_file.unlink()
    except OSError:
        pass
    return 0


def cmd_peek(args) -> int:
    """Prints the messages waiting in the entitlement queue without consuming them."""
    import boto3

    try:
        values = read_env_file(Path(args.env_file))
    except OSError:
        log(f"{args.env_file} not found: is `make dev` running?")
        return 1
    sqs = boto3.client(
        "sqs",
        endpoint_url=values["AWS_ENDPOINT_URL"],
        region_name=values.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=values.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=values.get("AWS_SECRET_ACCESS_KEY", "test"),
    )
    queue = values["ENTITLEMENT_QUEUE_URL"]
    seen = {}
    for _ in range(20):
        out = sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageAttributeNames=["All"]
        )
        fresh = [m for m in out.get("Messages", []) if m["MessageId"] not in seen]
        if not fresh and seen:
            break
        for m in fresh:
            seen[m["MessageId"]] = m
        if not out.get("Messages"):
            break
    if not seen:
        print("(the entitlement queue is empty)")
    for m in seen.values():
        attrs = {k: v.get("StringValue") for k, v in m.get("MessageAttributes", {}).items()}
        print(f"attributes {json.dumps(attrs)}")
        try:
            print(json.dumps(json.loads(m["Body"]), indent=2))
        except ValueError:
            print(m["Body"])
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser("start", help="start moto and deploy the stack")
    p_start.add_argument("--env-file", required=True)
    p_start.add_argument("--port", type=int, default=0)
    p_start.add_argument("--template", default=str(DEFAULT_TEMPLATE))
    p_start.add_argument("--log", default=str(DEFAULT_LOG))
    p_stop = sub.add_parser("stop", help="stop the moto server recorded in the env file")
    p_stop.add_argument("--env-file", required=True)
    p_peek = sub.add_parser("peek", help="print the messages waiting in the entitlement queue")
    p_peek.add_argument("--env-file", required=True)
    args = parser.parse_args(argv)
    if args.command == "start":
        return cmd_start(args)
    if args.command == "peek":
        return cmd_peek(args)
    return cmd_stop(args)


if __name__ == "__main__":
    sys.exit(main())

"""scripts/check_template.py: the repository's templates pass, and each rule, broken once, is reported.

    .venv/bin/python -m unittest scripts/test_check_template.py      (part of `make test-scripts`)
"""
import copy
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_template as ct  # noqa: E402

ROOT = ct.ROOT
T, B, SAMCONFIG, WORKFLOW = ct.load_all(ROOT / "infra" / "template.yaml", ROOT / "infra" / "bootstrap.yaml")
EMITTED = ct.emitted_metrics()


def problems(t=None, b=None, samconfig=None, workflow=None):
    return ct.problems_of(t or T, b or B, samconfig or SAMCONFIG, workflow or WORKFLOW, EMITTED)


def trust(b, role="StagingDeployRole"):
    return b["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]


class TheRepository(unittest.TestCase):
    def test_the_templates_samconfig_and_deploy_workflow_pass(self):
        self.assertEqual(problems(), [])


class Broken(unittest.TestCase):
    def expect(self, fragment, **broken):
        found = problems(**broken)
        self.assertTrue(any(fragment in p for p in found), f"no problem with {fragment!r} in {found}")

    # --- bootstrap trust -------------------------------------------------------------------------------------
    def test_a_wildcard_subject(self):
        b = copy.deepcopy(B)
        st = trust(b)
        sub = st["Condition"]["StringEquals"].pop("token.actions.githubusercontent.com:sub")
        st["Condition"]["StringLike"] = {"token.actions.githubusercontent.com:sub": "repo:acme/entitle:*"}
        self.assertTrue(sub)
        self.expect("StringEquals alone", b=b)

    def test_a_branch_subject(self):
        b = copy.deepcopy(B)
        trust(b)["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] = {
            "Fn::Sub": "repo:${GitHubOrg}/${GitHubRepo}:ref:refs/heads/main"}
        self.expect(":sub should be !Sub repo:${GitHubOrg}/${GitHubRepo}:environment:", b=b)

    def test_no_audience(self):
        b = copy.deepcopy(B)
        del trust(b, "ProdDeployRole")["Condition"]["StringEquals"]["token.actions.githubusercontent.com:aud"]
        self.expect("ProdDeployRole: token.actions.githubusercontent.com:aud should be sts.amazonaws.com", b=b)

    def test_another_principal(self):
        b = copy.deepcopy(B)
        trust(b)["Principal"] = {"AWS": "arn:aws:iam::123456789012:root"}
        self.expect("GitHub's OIDC provider only", b=b)

    def test_an_environment_parameter_that_takes_wildcards(self):
        b = copy.deepcopy(B)
        b["Parameters"]["ProdEnvironment"]["AllowedPattern"] = ".*"
        self.expect("parameter ProdEnvironment should exist with an AllowedPattern", b=b)

    def test_roles_created_without_the_boundary(self):
        b = copy.deepcopy(B)
        for st in b["Resources"]["StagingStackFunctionsPolicy"]["Properties"]["PolicyDocument"]["Statement"]:
            if st.get("Sid") == "RolesWithTheBoundary":
                del st["Condition"]
        self.expect("without the condition iam:PermissionsBoundary", b=b)

    def test_a_missing_deploy_permission(self):
        b = copy.deepcopy(B)
        for st in b["Resources"]["ProdStackResourcesPolicy"]["Properties"]["PolicyDocument"]["Statement"]:
            if st.get("Sid") == "Tables":
                st["Action"].remove("dynamodb:CreateTable")
        self.expect("ProdDeployRole: lacks dynamodb:CreateTable", b=b)

    def test_a_resource_type_the_bootstrap_does_not_know(self):
        t = copy.deepcopy(T)
        t["Resources"]["Bucket"] = {"Type": "AWS::S3::Bucket", "Properties": {}}
        self.expect("no deploy permissions known for AWS::S3::Bucket", t=t)

    # --- concurrency ---------------------------------------------------------------------------------------------
    def test_a_function_with_crash_points_armed(self):
        t = copy.deepcopy(T)
        props = t["Resources"]["EntitlementProcessorFunction"]["Properties"]
        props.setdefault("Environment", {}).setdefault("Variables", {})["ENTITLE_CRASH_AT"] = "claimed:1"
        self.expect("sets ENTITLE_CRASH_AT", t=t)

    def test_the_processor_uncapped(self):
        t = copy.deepcopy(T)
        del t["Resources"]["EntitlementProcessorFunction"]["Properties"]["Events"]["BillingEvents"]["Properties"][
            "ScalingConfig"]
        self.expect("lacks ScalingConfig.MaximumConcurrency", t=t)

    def test_a_cap_below_aws_minimum(self):
        t = copy.deepcopy(T)
        t["Parameters"]["ProcessorMaxConcurrency"]["MinValue"] = 1
        self.expect("ProcessorMaxConcurrency must be a Number within AWS's 2-1000", t=t)

    def test_a_reservation_always_on(self):
        t = copy.deepcopy(T)
        t["Resources"]["UsageApiFunction"]["Properties"]["ReservedConcurrentExecutions"] = 10
        self.expect("UsageApiFunction: ReservedConcurrentExecutions should be", t=t)

    # --- tables --------------------------------------------------------------------------------------------------
    def test_a_table_without_deletion_protection(self):
        t = copy.deepcopy(T)
        del t["Resources"]["UsageTable"]["Properties"]["DeletionProtectionEnabled"]
        self.expect("table UsageTable: DeletionProtectionEnabled should be true", t=t)

    def test_a_table_deleted_with_the_stack(self):
        t = copy.deepcopy(T)
        t["Resources"]["CustomersTable"]["DeletionPolicy"] = "Delete"
        self.expect("table CustomersTable: DeletionPolicy and UpdateReplacePolicy should be Retain", t=t)

    def test_a_reference_to_the_created_table_only(self):
        t = copy.deepcopy(T)
        env = t["Resources"]["BillingApiFunction"]["Properties"]["Environment"]["Variables"]
        env["CUSTOMERS_TABLE"] = {"Ref": "CustomersTable"}
        self.expect("table CustomersTable is referenced outside", t=t)

    def test_an_arn_in_a_sub_outside_the_if(self):
        t = copy.deepcopy(T)
        fn = t["Resources"]["StripeWebhookFunction"]["Properties"]
        fn["Policies"][0]["Statement"][0]["Resource"] = {"Fn::Sub": "${IdempotencyTable.Arn}"}
        self.expect("table IdempotencyTable is referenced outside", t=t)

    # --- throttling ----------------------------------------------------------------------------------------------
    def test_a_usage_api_route_on_the_default_limits(self):
        t = copy.deepcopy(T)
        del t["Resources"]["HttpApi"]["Properties"]["RouteSettings"]["POST /v1/usage"]
        self.expect("usage-api route 'POST /v1/usage' has no RouteSettings", t=t)

    def test_a_setting_for_a_route_that_does_not_exist(self):
        t = copy.deepcopy(T)
        t["Resources"]["HttpApi"]["Properties"]["RouteSettings"]["POST /v1/nothing"] = {}
        self.expect("RouteSettings names 'POST /v1/nothing'", t=t)

    def test_usage_api_no_higher_than_billing_api(self):
        t = copy.deepcopy(T)
        t["Parameters"]["UsageApiRateLimit"]["Default"] = 100
        self.expect("UsageApiRateLimit should default above BillingApiRateLimit", t=t)

    # --- one place for the parameters ----------------------------------------------------------------------------
    def test_parameter_overrides_in_the_workflow(self):
        w = copy.deepcopy(WORKFLOW)
        for st in w["jobs"]["deploy"]["steps"]:
            if st.get("name") == "sam deploy":
                st["run"] += " --parameter-overrides AllowedOrigins=https://x.io"
        self.expect("`sam deploy --parameter-overrides` overrides samconfig.toml", workflow=w)

    def test_an_environment_without_a_samconfig_section(self):
        s = copy.deepcopy(SAMCONFIG)
        del s["prod"]
        self.expect("environment prod (deploy.yml's) has no [prod.global.parameters] stack_name", samconfig=s)

    # --- the optional custom domain -----------------------------------------------------------------------------
    def test_a_custom_domain_made_without_the_parameter(self):
        t = copy.deepcopy(T)
        del t["Resources"]["ApiDomain"]["Condition"]
        self.expect("ApiDomain should have Condition HasApiDomain", t=t)

    def test_a_webhook_url_that_ignores_the_custom_domain(self):
        t = copy.deepcopy(T)
        t["Outputs"]["StripeWebhookUrl"]["Value"] = {
            "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/webhooks/stripe"}
        self.expect("output StripeWebhookUrl should be !If [HasApiDomain", t=t)

    def test_a_mapping_of_another_stage(self):
        t = copy.deepcopy(T)
        t["Resources"]["ApiDomainMapping"]["Properties"]["Stage"] = "prod"
        self.expect("ApiDomainMapping should map HttpApi's $default stage", t=t)

    def test_a_deploy_role_that_cannot_make_the_domain(self):
        b = copy.deepcopy(B)
        policies = b["Resources"]["StagingDeployRole"]["Properties"]
        for arn in policies.get("ManagedPolicyArns") or []:
            doc = b["Resources"][arn["Ref"]]["Properties"]["PolicyDocument"]
            doc["Statement"] = [st for st in doc["Statement"] if st.get("Sid") != "TheApiDomainRecord"]
        for policy in policies.get("Policies") or []:
            policy["PolicyDocument"]["Statement"] = [
                st for st in policy["PolicyDocument"]["Statement"] if st.get("Sid") != "TheApiDomainRecord"]
        self.expect("StagingDeployRole: lacks route53:ChangeResourceRecordSets", b=b)


if __name__ == "__main__":
    unittest.main()

//! The AWS region the CLI uses, against the local AWS (whose stack is in `us-east-1`, as a deployed stack is in
//! one region): `--region` > `AWS_REGION` / `AWS_DEFAULT_REGION` > samconfig.toml's `region` of the chosen
//! environment > the SDK's default. The command reads the stack's outputs (its tables), as an operator's does:
//! in the wrong region, "stack does not exist".
use entitle_test_support::aws;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The local stack and its region (scripts/local_aws.py).
const STACK: &str = "entitle";
const STACK_REGION: &str = "us-east-1";
/// What the local-AWS wrapper exports that the stack's outputs also give: unset, so the CLI reads the stack.
const FROM_THE_STACK: &[&str] = &[
    "ENTITLEMENTS_TABLE",
    "CUSTOMERS_TABLE",
    "USAGE_TABLE",
    "BILLING_EVENTS_TOPIC_ARN",
    "DEAD_LETTER_QUEUE_URL",
    "ENTITLEMENT_QUEUE_URL",
];
const ELSEWHERE: &str = "eu-west-3";

/// A directory holding a samconfig.toml whose `default` environment is in `default_region` and whose
/// `staging` environment is in `staging_region`, as `sam deploy --guided` writes them.
fn project(name: &str, default_region: &str, staging_region: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "entitle-region-{}-{name}-{}",
        std::process::id(),
        entitle_test_support::fixtures::unique_id("")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("samconfig.toml"),
        format!(
            "version = 0.1\n\
             [default.global.parameters]\nstack_name = \"{STACK}\"\n\
             [default.deploy.parameters]\ncapabilities = \"CAPABILITY_IAM\"\nregion = \"{default_region}\"\n\
             [staging.global.parameters]\nstack_name = \"{STACK}\"\n\
             [staging.deploy.parameters]\nregion = \"{staging_region}\"\n"
        ),
    )
    .unwrap();
    dir
}

/// `entitle usage` (it reads the usage and entitlements tables) from `dir`, with no region in the environment
/// unless `vars` sets one.
fn usage(dir: &PathBuf, args: &[&str], vars: &[(&str, &str)]) -> Output {
    aws::env("AWS_ENDPOINT_URL");
    let mut command = Command::new(env!("CARGO_BIN_EXE_entitle"));
    for name in FROM_THE_STACK {
        command.env_remove(name);
    }
    command
        .current_dir(dir)
        .args(["usage", "user_region_check"])
        .args(args)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("SAM_CONFIG_ENV")
        .env_remove("PLAN_CATALOG")
        .envs(vars.iter().copied())
        .output()
        .expect("the entitle binary runs")
}

fn report(output: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The command found the stack and its tables (it ran in the stack's region).
fn found(output: &Output) -> bool {
    output.status.code() == Some(0)
        && String::from_utf8_lossy(&output.stderr)
            .contains(&format!("reading the outputs of stack {STACK}"))
}

/// The command ran in a region without the stack.
fn not_found(output: &Output) -> bool {
    output.status.code() == Some(1)
        && String::from_utf8_lossy(&output.stderr)
            .contains(&format!("Stack with id {STACK} does not exist"))
}

#[test]
fn samconfig_tomls_region_is_used_when_neither_the_flag_nor_the_environment_names_one() {
    let right = project("right", STACK_REGION, ELSEWHERE);
    let out = usage(&right, &[], &[]);
    assert!(found(&out), "{}", report(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "AWS region {STACK_REGION} (samconfig.toml, environment default)"
        )),
        "says where the region came from: {}",
        report(&out)
    );
    let wrong = project("wrong", ELSEWHERE, STACK_REGION);
    let out = usage(&wrong, &[], &[]);
    assert!(not_found(&out), "{}", report(&out));
    // The chosen environment's region: --config-env, or SAM_CONFIG_ENV.
    let out = usage(&wrong, &["--config-env", "staging"], &[]);
    assert!(found(&out), "{}", report(&out));
    let out = usage(&wrong, &[], &[("SAM_CONFIG_ENV", "staging")]);
    assert!(found(&out), "{}", report(&out));
    let out = usage(&right, &["--config-env", "staging"], &[]);
    assert!(not_found(&out), "{}", report(&out));
}

#[test]
fn the_environment_beats_samconfig_and_the_flag_beats_both() {
    let wrong = project("env", ELSEWHERE, ELSEWHERE);
    for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        let out = usage(&wrong, &[], &[(name, STACK_REGION)]);
        assert!(found(&out), "{name}: {}", report(&out));
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("samconfig.toml"),
            "{}",
            report(&out)
        );
    }
    let out = usage(&wrong, &["--region", STACK_REGION], &[]);
    assert!(found(&out), "{}", report(&out));
    let right = project("flag", STACK_REGION, STACK_REGION);
    let out = usage(
        &right,
        &["--region", ELSEWHERE],
        &[("AWS_REGION", STACK_REGION)],
    );
    assert!(not_found(&out), "{}", report(&out));
}

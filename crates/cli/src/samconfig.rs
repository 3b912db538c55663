//! What the CLI takes from `samconfig.toml`: the chosen environment's `stack_name` and `region`, as `sam deploy
//! --config-env <env>` reads them (its `deploy` section first, then its `global` one), and the AWS region the
//! commands use.
//!
//! The region's precedence: `--region` > `AWS_REGION` / `AWS_DEFAULT_REGION` > samconfig.toml's `region` of the
//! environment > the AWS SDK's own default (the profile's). `sam deploy --guided` writes the region it asked
//! for into samconfig.toml, so the CLI finds the stack where it was deployed without the shell's region.
use std::sync::OnceLock;

/// The environment of `samconfig.toml` the commands read (`--config-env`, else `SAM_CONFIG_ENV`, else
/// `default`).
static CONFIG_ENV: OnceLock<String> = OnceLock::new();

/// Where the region came from, for the one line the CLI prints about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionSource {
    Flag,
    Environment(&'static str),
    SamConfig(String),
}

/// `--config-env`, else `SAM_CONFIG_ENV`, else `default`; called once by `main`.
pub fn choose_env(flag: Option<&str>) {
    let env = flag
        .map(str::to_owned)
        .or_else(|| entitle_core::config::optional("SAM_CONFIG_ENV"))
        .unwrap_or_else(|| "default".to_owned());
    let _ = CONFIG_ENV.set(env);
}

pub fn config_env() -> &'static str {
    CONFIG_ENV.get().map_or("default", String::as_str)
}

/// `key` of environment `env` in samconfig.toml's text: `[env.deploy.parameters]` first, then
/// `[env.global.parameters]`, as SAM's own precedence (a command's section overrides `global`). `None` when the
/// text is not TOML, the environment has no such key, or its value is not a non-empty string.
pub fn value(text: &str, env: &str, key: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(text).ok()?;
    let env_table = table.get(env)?.as_table()?;
    ["deploy", "global"].iter().find_map(|command| {
        env_table
            .get(*command)?
            .as_table()?
            .get("parameters")?
            .as_table()?
            .get(key)?
            .as_str()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    })
}

/// `key` of the chosen environment in `./samconfig.toml`.
pub fn read(key: &str) -> Option<String> {
    let text = std::fs::read_to_string("samconfig.toml").ok()?;
    value(&text, config_env(), key)
}

/// The region to use and where it came from; `None`: the SDK's default chain decides (a profile's region).
/// `lookup` reads an environment variable (blank counts as unset); `samconfig` is the environment's `region`.
pub fn resolve_region(
    flag: Option<&str>,
    lookup: impl Fn(&str) -> Option<String>,
    samconfig: Option<String>,
) -> Option<(String, RegionSource)> {
    if let Some(region) = flag.map(str::trim).filter(|r| !r.is_empty()) {
        return Some((region.to_owned(), RegionSource::Flag));
    }
    for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(region) = lookup(name).filter(|r| !r.trim().is_empty()) {
            return Some((region.trim().to_owned(), RegionSource::Environment(name)));
        }
    }
    samconfig.map(|region| {
        let source = RegionSource::SamConfig(config_env().to_owned());
        (region, source)
    })
}

/// Resolves the region once, before any AWS SDK configuration is loaded, and sets `AWS_REGION` for the SDK
/// when it came from the flag or samconfig.toml. Prints where it came from (stderr), unless the environment
/// set it.
pub fn apply_region(flag: Option<&str>) {
    let resolved = resolve_region(flag, entitle_core::config::optional, read("region"));
    match resolved {
        Some((region, RegionSource::Flag)) => {
            // Single-threaded here: nothing else reads the environment yet.
            std::env::set_var("AWS_REGION", &region);
        }
        Some((region, RegionSource::SamConfig(env))) => {
            eprintln!("AWS region {region} (samconfig.toml, environment {env})");
            std::env::set_var("AWS_REGION", &region);
        }
        Some((_, RegionSource::Environment(_))) | None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMCONFIG: &str = r#"
version = 0.1
[default.global.parameters]
stack_name = "entitle-dev"
[default.deploy.parameters]
capabilities = "CAPABILITY_IAM"
region = "eu-west-1"
[staging.global.parameters]
stack_name = "entitle-staging"
region = "eu-central-1"
[staging.deploy.parameters]
region = "eu-west-3"
[prod.global.parameters]
stack_name = "entitle-prod"
"#;

    #[test]
    fn each_environment_has_its_own_stack_and_region_and_deploy_overrides_global() {
        assert_eq!(
            value(SAMCONFIG, "default", "stack_name").as_deref(),
            Some("entitle-dev")
        );
        assert_eq!(
            value(SAMCONFIG, "default", "region").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            value(SAMCONFIG, "staging", "stack_name").as_deref(),
            Some("entitle-staging")
        );
        assert_eq!(
            value(SAMCONFIG, "staging", "region").as_deref(),
            Some("eu-west-3"),
            "the deploy section's region, as `sam deploy` reads it"
        );
        assert_eq!(value(SAMCONFIG, "prod", "region"), None);
        assert_eq!(value(SAMCONFIG, "nowhere", "stack_name"), None);
        assert_eq!(value("not = [toml", "default", "region"), None);
    }

    #[test]
    fn the_flag_beats_the_environment_which_beats_samconfig() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let sam = || Some("eu-west-3".to_owned());
        assert_eq!(
            resolve_region(
                Some("ap-south-1"),
                env(&[("AWS_REGION", "us-east-1")]),
                sam()
            ),
            Some(("ap-south-1".into(), RegionSource::Flag))
        );
        assert_eq!(
            resolve_region(None, env(&[("AWS_REGION", "us-east-1")]), sam()),
            Some(("us-east-1".into(), RegionSource::Environment("AWS_REGION")))
        );
        assert_eq!(
            resolve_region(None, env(&[("AWS_DEFAULT_REGION", "us-west-2")]), sam()),
            Some((
                "us-west-2".into(),
                RegionSource::Environment("AWS_DEFAULT_REGION")
            ))
        );
        assert_eq!(
            resolve_region(
                None,
                env(&[
                    ("AWS_REGION", "us-east-1"),
                    ("AWS_DEFAULT_REGION", "us-west-2")
                ]),
                sam()
            ),
            Some(("us-east-1".into(), RegionSource::Environment("AWS_REGION"))),
            "AWS_REGION before AWS_DEFAULT_REGION, as the SDK"
        );
        assert_eq!(
            resolve_region(None, env(&[("AWS_REGION", "  ")]), sam()),
            Some((
                "eu-west-3".into(),
                RegionSource::SamConfig("default".into())
            )),
            "a blank variable counts as unset"
        );
        assert_eq!(resolve_region(Some(""), env(&[]), None), None);
    }
}

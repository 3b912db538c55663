//! `POST /portal`: a Stripe billing portal session for the user's customer.
use crate::billing_api::answer::Portal;
use crate::billing_api::checkout::stripe_error;
use crate::billing_api::deps::Deps;
use entitle_core::api_error::ApiError;
use entitle_domain::ids::SubjectId;
use entitle_domain::time::UnixTime;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    pub return_url: String,
}

pub async fn create(
    deps: &Deps,
    user: &SubjectId,
    body: Body,
    now: UnixTime,
) -> Result<Portal, ApiError> {
    if !deps.config.redirect_origins.allows_url(&body.return_url) {
        return Err(ApiError::bad_request(
            "redirect_not_allowed",
            "returnUrl must be on an allowed origin",
        ));
    }
    let customer = deps
        .customers
        .get(user)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading the customers table failed");
            ApiError::unavailable()
        })?
        .and_then(|link| link.customer);
    let Some(customer) = customer else {
        return Err(ApiError::not_found(
            "no_customer",
            "there is no billing account yet: start with POST /checkout",
        ));
    };
    // One portal session per user, return URL and minute: a double click gets the same one.
    let key = format!(
        "entitle-portal-{user}-{}-{}",
        now.secs() / 60,
        body.return_url.len()
    );
    let configuration = configuration(deps).await?;
    let url = deps
        .billing
        .create_portal_session(&customer, &body.return_url, &configuration, &key)
        .await
        .map_err(stripe_error)?;
    Ok(Portal { url })
}

/// Entitle's portal configuration: `STRIPE_PORTAL_CONFIGURATION` when set, else the one `entitle setup`
/// made (`metadata.entitle = "setup"`), looked up once per instance.
async fn configuration(deps: &Deps) -> Result<String, ApiError> {
    if let Some(id) = deps
        .portal_configuration
        .lock()
        .expect("not poisoned")
        .clone()
    {
        return Ok(id);
    }
    let found = deps
        .billing
        .setup_portal_configuration()
        .await
        .map_err(stripe_error)?;
    let Some(id) = found else {
        tracing::error!("no billing portal configuration: run `entitle setup --apply`");
        return Err(ApiError::new(
            503,
            "portal_not_configured",
            "the billing portal is not set up yet",
        ));
    };
    *deps.portal_configuration.lock().expect("not poisoned") = Some(id.clone());
    Ok(id)
}

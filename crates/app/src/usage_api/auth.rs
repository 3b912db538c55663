//! Server API keys: `Authorization: Bearer <key>`, compared in constant time against every configured key
//! (several during a rotation). Keys are kept as SHA-256 digests, so the comparison takes the same time
//! whatever the length of the key presented, and the keys themselves are never printed.
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.digests.len())
    }
}

impl ApiKeys {
    /// From the comma-separated list of `USAGE_API_KEYS`.
    pub fn new(list: &SecretString) -> Self {
        let digests = entitle_core::config::secret_list(list)
            .iter()
            .map(|key| Sha256::digest(key.expose_secret().as_bytes()).into())
            .collect();
        Self { digests }
    }

    /// A secret's text as keys, at least one.
    pub fn parse(list: &SecretString) -> Result<Self, String> {
        let keys = Self::new(list);
        if keys.is_empty() {
            return Err("no key in the list".into());
        }
        Ok(keys)
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether the `Authorization` header carries one of the keys. Every key is compared, match or not.
    pub fn admits(&self, authorization: Option<&str>) -> bool {
        let Some(presented) = authorization.and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        }) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
        let mut found = subtle::Choice::from(0);
        for key in &self.digests {
            found |= key.ct_eq(&digest);
        }
        found.into()
    }
}

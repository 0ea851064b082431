//! `Caller`: who asks for a run or a read, and what they may touch.

use std::sync::Arc;

use crate::context::Trusted;
use crate::meta::Identity;
use crate::store::{MemoryOwner, MemoryScope};

/// Who is asking, as the server established it: from a verified token when authentication is
/// on, from the `user_id` the client sent when it is off.
///
/// Every run route and every read asks the caller before acting: a session, a run or a
/// history belongs to one user, and only that user (or an admin) reaches it.
#[derive(Clone, Debug)]
pub struct Caller {
    identity: Identity,
    trusted: Arc<Trusted>,
    admin: bool,
    /// The session a verified token binds, if any: it wins over the body's.
    session_claim: Option<String>,
    /// Authentication is off: an anonymous caller then reads everything, as in agno.
    open: bool,
    /// The tenant whose data the caller reaches, from the verified token; `""` without one.
    namespace: String,
}

impl Caller {
    /// A caller whose token the auth layer verified.
    pub(crate) fn verified(
        user_id: Option<String>,
        session_claim: Option<String>,
        namespace: String,
        trusted: Trusted,
        admin: bool,
    ) -> Self {
        Caller {
            identity: user_id.map_or(Identity::Anonymous, Identity::Verified),
            trusted: Arc::new(trusted),
            admin,
            session_claim,
            open: false,
            namespace,
        }
    }

    /// A caller on a server without authentication, who says they are `user_id` (if anyone).
    pub fn open(user_id: Option<String>) -> Self {
        Caller {
            identity: user_id
                .filter(|id| !id.is_empty())
                .map_or(Identity::Anonymous, Identity::Asserted),
            trusted: Arc::default(),
            admin: false,
            session_claim: None,
            open: true,
            namespace: String::new(),
        }
    }

    /// The user, with the provenance of the id.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The user id, verified or asserted.
    pub fn user_id(&self) -> Option<&str> {
        self.identity.user_id()
    }

    /// Verified claims and scopes (empty without authentication).
    pub fn trusted(&self) -> &Arc<Trusted> {
        &self.trusted
    }

    /// Whether the caller holds the admin scope.
    pub fn is_admin(&self) -> bool {
        self.admin
    }

    /// The namespace (tenant) whose data the caller reaches: set by the verified token,
    /// `""` on a server without authentication.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Whose memories the caller's own are: the caller's user in the caller's namespace;
    /// `None` for a caller without a user.
    pub fn memory_owner(&self) -> Option<MemoryOwner> {
        self.user_id().map(|user_id| MemoryOwner {
            namespace: self.namespace.clone(),
            user_id: user_id.to_owned(),
        })
    }

    /// The memories the caller reaches when a request names the user `named` (agno's
    /// `user_id` field): a user's own always, whatever they name; for an admin, or an
    /// anonymous caller of a server without authentication, the named user's or, naming
    /// none, every user's of their namespace. `None` for a caller who is neither and has no
    /// user.
    pub fn memory_scope(&self, named: Option<&str>) -> Option<MemoryScope> {
        if self.admin || self.reads_everything() {
            return Some(match named.filter(|user| !user.is_empty()) {
                Some(user_id) => MemoryScope::User(MemoryOwner {
                    namespace: self.namespace.clone(),
                    user_id: user_id.to_owned(),
                }),
                None => MemoryScope::Namespace(self.namespace.clone()),
            });
        }
        self.memory_owner().map(MemoryScope::User)
    }

    /// The session the caller's token binds.
    pub fn session_claim(&self) -> Option<&str> {
        self.session_claim.as_deref()
    }

    /// Whether something owned by `owner` is the caller's own: the same user, or both without
    /// one. Writing into a session needs this, whoever the caller is.
    pub fn owns(&self, owner: Option<&str>) -> bool {
        self.user_id() == owner
    }

    /// Whether the caller may read or stop something owned by `owner`: their own, anything
    /// for an admin, and anything for an anonymous caller of a server without authentication.
    pub fn may_access(&self, owner: Option<&str>) -> bool {
        self.admin || self.reads_everything() || self.owns(owner)
    }

    /// The user whose sessions a listing may show: `None` for every user's.
    pub fn visible_owner(&self) -> Option<Option<&str>> {
        if self.admin || self.reads_everything() {
            None
        } else {
            Some(self.user_id())
        }
    }

    fn reads_everything(&self) -> bool {
        self.open && self.identity == Identity::Anonymous
    }

    /// Whether the caller may do `action` on `resource` (`teams`, `agents`, `sessions`) with
    /// the id `id`: `resource:action`, `resource:<id>:action`, `resource:*:action`, or admin.
    pub fn may(&self, resource: &str, action: &str, id: Option<&str>) -> bool {
        if self.admin {
            return true;
        }
        let scopes = self.trusted.scopes();
        if scopes.contains(&format!("{resource}:{action}"))
            || scopes.contains(&format!("{resource}:*:{action}"))
        {
            return true;
        }
        match id {
            Some(id) => scopes.contains(&format!("{resource}:{id}:{action}")),
            None => false,
        }
    }

    /// Whether the caller may do `action` on at least one `resource` (for list routes, which
    /// then show only what the caller may see).
    pub fn may_any(&self, resource: &str, action: &str) -> bool {
        self.may(resource, action, None)
            || self.trusted.scopes().iter().any(|scope| {
                let mut parts = scope.split(':');
                parts.next() == Some(resource)
                    && parts.next().is_some()
                    && parts.next() == Some(action)
                    && parts.next().is_none()
            })
    }
}

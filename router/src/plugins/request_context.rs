//! What Nexus's plugins hand each other about one request, kept in the context's typed
//! extensions: apollo's JSON context would serialise a value when it is stored and parse it again
//! at every read (claims are read by three plugins and at every subgraph call).

use std::sync::Arc;

use apollo_router::Context;
use nexus_protocol::internal::membership::MembershipAnswer;
use nexus_protocol::token::Claims;

/// The caller `nexus.auth` verified: the bearer token core subgraphs receive, and its claims.
#[derive(Clone, Debug)]
pub struct Caller {
    pub token: Arc<str>,
    pub claims: Arc<Claims>,
    /// identity's answer about the caller's membership of the organization the token acts in,
    /// when `nexus.auth` had to ask (a user's token without a second factor).
    pub membership: Option<MembershipAnswer>,
}

/// Stores `value` for the rest of this request (one value per type).
pub fn put<T: Send + Sync + 'static>(context: &Context, value: T) {
    context.extensions().with_lock(|extensions| {
        extensions.insert(value);
    });
}

/// The value of type `T` stored for this request, if any.
pub fn get<T: Clone + Send + Sync + 'static>(context: &Context) -> Option<T> {
    context
        .extensions()
        .with_lock(|extensions| extensions.get::<T>().cloned())
}

/// The verified caller, if the request carried a credential.
pub fn caller(context: &Context) -> Option<Caller> {
    get::<Caller>(context)
}

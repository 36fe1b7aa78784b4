//! sea-orm entities of the tables apps owns.

pub mod app;
pub mod app_access;
pub mod app_category;
pub mod app_credential;
pub mod app_search;
pub mod app_version;
pub mod featured_app;
pub mod installation;
pub mod oauth_authorization;
pub mod oauth_code;
pub mod oauth_grant;
pub mod oauth_refresh_token;
pub mod store_category;
pub mod supergraph_version;

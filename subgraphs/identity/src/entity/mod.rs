//! sea-orm entities of the tables identity owns.

pub mod api_key;
pub mod email_token;
pub mod invitation;
pub mod membership;
pub mod organization;
pub mod recovery_code;
pub mod refresh_token;
pub mod second_factor_challenge;
pub mod two_factor;
pub mod user;

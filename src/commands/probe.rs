//! `churn probe URL`: the container's health check. No configuration and
//! no database: it only asks the server.

use std::time::Duration;

use clap::Args;

use crate::error::{Error, Result};

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The URL to GET, http://HOST:PORT/PATH.
    pub url: String,

    /// Seconds to wait for the connection and the answer.
    #[arg(long, default_value_t = 5.0)]
    pub timeout_s: f64,
}

impl ProbeArgs {
    pub fn run(&self) -> Result<()> {
        if !(self.timeout_s.is_finite() && self.timeout_s > 0.0) {
            return Err(Error::Usage(format!(
                "--timeout-s must be a positive number of seconds, not {}",
                self.timeout_s
            )));
        }
        let status = crate::api::probe::run(&self.url, Duration::from_secs_f64(self.timeout_s))?;
        tracing::debug!("probe {}: {status}", self.url);
        Ok(())
    }
}

//! `churn serve`: the prediction API.

use clap::Args;

use crate::commands::Globals;
use crate::config::Overrides;
use crate::error::Result;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides serve.addr, default 127.0.0.1:8000;
    /// the image and Kubernetes give 0.0.0.0:8000).
    #[arg(long)]
    pub addr: Option<String>,
}

impl ServeArgs {
    pub fn run(&self, g: &Globals) -> Result<()> {
        let config = g.config(&Overrides::default())?;
        crate::api::serve_at(g.db(), &config, self.addr.as_deref())
    }
}

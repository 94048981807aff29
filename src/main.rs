use std::process::ExitCode;

use clap::Parser;

use transport_bench::cli::Cli;
use transport_bench::options::Mode;
use transport_bench::{benchmark, cleanup, server};

fn main() -> ExitCode {
    // Parse and validate (bad input exits 2 here, before anything starts), then run one mode.
    match Mode::from_cli(Cli::parse()) {
        Mode::Benchmark(options) => benchmark::run(&options),
        Mode::Server(options) => server::run(&options),
        Mode::Cleanup(scope) => cleanup::run(&scope),
    }
}

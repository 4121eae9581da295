//! Generates the `switchboard.media.v1` messages and tonic client/server from
//! `proto/switchboard/media/v1/media.proto`, compiled by `protox` (no system protoc).

fn main() -> anyhow::Result<()> {
    let proto = "proto/switchboard/media/v1/media.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}

//! The web chat's JSON and upload bodies, over HTTP to the real server and core (a fast fake
//! generator). A handler that panics closes the connection unanswered (status 0): a finding,
//! as is any 5xx but 503.
#![no_main]
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use headshot_testkit::{FakeGenerator, Running, config};

struct Server {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
}

static SERVER: LazyLock<Server> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime.block_on(async {
        let running = Running::start(
            config(false),
            FakeGenerator::new(1, Duration::from_millis(1)),
            headshot::Store::temporary().unwrap(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let options = headshot_bots::web::Options::from_config(running.service.config());
        tokio::spawn(headshot_bots::web::serve(
            running.service.clone(),
            listener,
            options,
            std::future::pending(),
        ));
        std::mem::forget(running);
        addr
    });
    Server { runtime, addr }
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let server = &*SERVER;
    let status = server
        .runtime
        .block_on(headshot_bots::fuzzing::web_request(server.addr, data));
    assert!(
        (200..500).contains(&status) || status == 503,
        "status {status}"
    );
});

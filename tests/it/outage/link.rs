//! A TCP link between wirecache and a real origin that a test can cut and restore:
//! cutting closes every connection through it and stops listening (new connections
//! are refused, as from a stopped server); restoring listens again on the same port.
//! Stalling keeps every connection open but passes no byte more (a paused origin, or
//! a network that drops packets). The origin itself keeps running, so the shared
//! origins can be used.

use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Link {
    pub port: u16,
    target: u16,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    stalled: tokio::sync::watch::Sender<bool>,
}

impl Link {
    /// A link to 127.0.0.1:`target`, listening on an ephemeral port.
    pub async fn start(target: u16) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let link = Link {
            port,
            target,
            tasks: Arc::default(),
            stalled: tokio::sync::watch::Sender::new(false),
        };
        link.serve(listener);
        link
    }

    fn serve(&self, listener: TcpListener) {
        let (target, tasks) = (self.target, self.tasks.clone());
        let stalled = self.stalled.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut stall = stalled.subscribe();
                let relay = tokio::spawn(async move {
                    let Ok(mut origin) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut origin) => return,
                        _ = stall.wait_for(|s| *s) => {}
                    }
                    // Stalled: both connections stay open, nothing passes.
                    std::future::pending::<()>().await;
                    drop((client, origin));
                });
                tasks.lock().unwrap().push(relay);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Closes every connection through the link and stops listening.
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Keeps every connection open and passes nothing more.
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    /// Listens again on the same port.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.cut();
    }
}

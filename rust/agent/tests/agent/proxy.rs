//! A TCP proxy in front of the real server that cuts the connection in the
//! middle of the first artifact download: the fault the agent must survive
//! (a dropped Wi-Fi link). It also records every request head, so a test
//! can see which ranges the agent asked for.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct CutProxy {
    pub url: String,
    pub requests: Arc<Mutex<Vec<String>>>,
    pub cut_done: Arc<AtomicBool>,
    pub bytes_to_client: Arc<AtomicU64>,
}

impl CutProxy {
    /// Forwards to `upstream` (`host:port`); the first response that carries
    /// an artifact is cut after `cut_after` bytes.
    pub async fn start(upstream: String, cut_after: u64) -> CutProxy {
        Self::start_with(upstream, cut_after, std::time::Duration::ZERO).await
    }

    /// Like `start`, pausing `delay` after every 16 KiB sent to the client
    /// (a slow link), so a test can act while a download runs.
    pub async fn start_with(
        upstream: String,
        cut_after: u64,
        delay: std::time::Duration,
    ) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let cut_done = Arc::new(AtomicBool::new(false));
        let bytes_to_client = Arc::new(AtomicU64::new(0));
        let (r, c, b) = (requests.clone(), cut_done.clone(), bytes_to_client.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let upstream = upstream.clone();
                let (r, c, b) = (r.clone(), c.clone(), b.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let armed = Arc::new(AtomicBool::new(false));
                    let armed2 = armed.clone();
                    let c_up = c.clone();
                    let up = tokio::spawn(async move {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match cr.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            let text = String::from_utf8_lossy(&buf[..n]).to_string();
                            if let Some(head) = text.split("\r\n\r\n").next() {
                                if head.starts_with("GET ")
                                    || head.starts_with("POST ")
                                    || head.starts_with("PUT ")
                                {
                                    if head.contains("/artifacts/") && !c_up.load(Ordering::SeqCst)
                                    {
                                        armed2.store(true, Ordering::SeqCst);
                                    }
                                    r.lock().unwrap().push(head.to_string());
                                }
                            }
                            if sw.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    });
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut sent_armed = 0u64;
                    loop {
                        let n = match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let mut n = n;
                        if armed.load(Ordering::SeqCst) {
                            if sent_armed + n as u64 >= cut_after {
                                n = (cut_after - sent_armed) as usize;
                                let _ = cw.write_all(&buf[..n]).await;
                                b.fetch_add(n as u64, Ordering::SeqCst);
                                c.store(true, Ordering::SeqCst);
                                break;
                            }
                            sent_armed += n as u64;
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        b.fetch_add(n as u64, Ordering::SeqCst);
                        if !delay.is_zero() {
                            tokio::time::sleep(delay).await;
                        }
                    }
                    up.abort();
                });
            }
        });
        CutProxy {
            url,
            requests,
            cut_done,
            bytes_to_client,
        }
    }

    pub fn range_requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.contains("/artifacts/"))
            .filter_map(|h| {
                h.lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("range:"))
                    .map(str::to_string)
            })
            .collect()
    }
}

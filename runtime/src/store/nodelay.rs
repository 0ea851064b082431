//! `TCP_NODELAY` on the store's PostgreSQL connections.
//!
//! sqlx 0.9 opens its sockets without it (0.8 set it; the fix is merged upstream but not
//! released). A statement longer than a segment then leaves its tail waiting for the server's
//! delayed ACK, 40 ms at a time: measured, 75-106 runs/s at 8 clients where 1 client did 551.
//! sqlx does not hand out its socket, so each new connection asks the server which client port
//! it sees, and the socket of this process bound to that port (and connected to the server's
//! port) gets the option.

use sea_orm::sqlx::{self, PgConnection};

/// Run on every new PostgreSQL connection (sqlx's `after_connect`).
pub(super) async fn on_connect(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    // Both are NULL over a Unix socket, which has no Nagle to turn off.
    let (client, server): (Option<i32>, Option<i32>) =
        sqlx::query_as("SELECT inet_client_port(), inet_server_port()")
            .fetch_one(&mut *conn)
            .await?;
    let port = |port: Option<i32>| port.and_then(|port| u16::try_from(port).ok());
    if let (Some(client), Some(server)) = (port(client), port(server))
        && !set_nodelay(client, server)
    {
        tracing::debug!(
            client,
            server,
            "no socket of this process matches a new PostgreSQL connection; TCP_NODELAY not set"
        );
    }
    Ok(())
}

/// Sets `TCP_NODELAY` on the socket of this process whose local port is `local` and whose
/// peer's port is `peer`; false when there is none.
#[cfg(target_os = "linux")]
fn set_nodelay(local: u16, peer: u16) -> bool {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return false;
    };
    for entry in fds.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if port_of(fd, libc::getsockname) == Some(local)
            && port_of(fd, libc::getpeername) == Some(peer)
        {
            let on: libc::c_int = 1;
            // SAFETY: `on` outlives the call, and its size is the length given.
            let set = unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    (&on as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            return set == 0;
        }
    }
    false
}

#[cfg(not(target_os = "linux"))]
fn set_nodelay(_local: u16, _peer: u16) -> bool {
    false
}

/// The TCP port of `fd`'s own (`getsockname`) or peer's (`getpeername`) address.
#[cfg(target_os = "linux")]
fn port_of(
    fd: i32,
    name: unsafe extern "C" fn(i32, *mut libc::sockaddr, *mut libc::socklen_t) -> i32,
) -> Option<u16> {
    // SAFETY: an all-zero sockaddr_storage is a valid value of the type.
    let mut address: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut length = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: the buffer is as long as the length says; a non-socket fd fails with ENOTSOCK.
    if unsafe {
        name(
            fd,
            (&mut address as *mut libc::sockaddr_storage).cast(),
            &mut length,
        )
    } != 0
    {
        return None;
    }
    match i32::from(address.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let v4 = unsafe {
                &*(&address as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            Some(u16::from_be(v4.sin_port))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let v6 = unsafe {
                &*(&address as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            Some(u16::from_be(v6.sin6_port))
        }
        _ => None,
    }
}

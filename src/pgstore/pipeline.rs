//! Several statements on one connection in one round trip.
//!
//! tokio-postgres writes a request to its connection when the request's future is first
//! polled, and the server answers requests in the order they arrived. [`send`] polls every
//! future once, in order, before it waits for any answer, so the statements leave together and
//! cost one round trip instead of one each. A statement after one that failed inside a
//! transaction fails too (the transaction is aborted); the caller keeps the first failure.
//!
//! Some requests fail on the client before anything is written (a parameter of a type its
//! placeholder refuses, a wrong number of parameters, a value too large to encode): their
//! future fails on its first poll. The server never sees such a request, so it would run the
//! ones after it, a `COMMIT` included, as if it had not been there. [`send`] therefore stops
//! at the first request that fails on its first poll: the requests after it are dropped
//! unpolled, never sent.
use futures::{FutureExt, future::BoxFuture};
use tokio_postgres::{Error, Row, Statement, types::ToSql};

use super::columns::Param;

/// One request's answer: the rows of a statement, none for a simple query.
pub(super) type Answer = Result<Vec<Row>, Error>;

/// A request of [`send`]: a prepared statement with its parameters, or a simple query
/// (`BEGIN …`, `COMMIT`, `ROLLBACK`).
pub(super) enum Request<'p> {
    Statement(Statement, &'p [Param]),
    Simple(&'static str),
}

/// Sends every request before waiting for the first answer; the answers in request order.
///
/// When a request fails before it is sent (its future fails on its first poll), none after
/// it is sent: the answers then end with that request's error, and fewer came back than were
/// asked for. Every answer returned is of a request the server got, but the last when it
/// is such an error.
pub(super) async fn send(
    client: &tokio_postgres::Client,
    requests: Vec<Request<'_>>,
) -> Vec<Answer> {
    let futures: Vec<BoxFuture<'_, Answer>> = requests
        .into_iter()
        .map(|request| match request {
            Request::Statement(statement, params) => async move {
                let refs: Vec<&(dyn ToSql + Sync)> = params
                    .iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                client.query(&statement, &refs).await
            }
            .boxed(),
            Request::Simple(sql) => client
                .batch_execute(sql)
                .map(|r| r.map(|()| Vec::new()))
                .boxed(),
        })
        .collect();
    // The first poll writes the request; one that already has its answer keeps it. One that
    // fails on it was refused before it was written, and the rest stay unsent.
    let mut started: Vec<Result<Answer, BoxFuture<'_, Answer>>> = Vec::with_capacity(futures.len());
    for mut future in futures {
        match (&mut future).now_or_never() {
            Some(Err(refused)) => {
                started.push(Ok(Err(refused)));
                break;
            }
            Some(answer) => started.push(Ok(answer)),
            None => started.push(Err(future)),
        }
    }
    let mut answers = Vec::with_capacity(started.len());
    for request in started {
        answers.push(match request {
            Ok(answer) => answer,
            Err(waiting) => waiting.await,
        });
    }
    answers
}

/// Sends `sql` without waiting for its answer: the connection writes it before any request
/// made after it, and drops the answer. How a transaction is ended when nothing waits on the
/// outcome (tokio-postgres ends a dropped `Transaction` the same way).
pub(super) fn send_and_forget(client: &tokio_postgres::Client, sql: &'static str) {
    // Polled once, so written; the answer, an error included, is nobody's.
    let _unanswered = client.batch_execute(sql).now_or_never();
}

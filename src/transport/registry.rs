//! Every transport the tool knows, in the order in which they run and print, and what can be
//! said of all of them at once (every object any of them may leave for a channel, and those
//! they name themselves). Adding a transport means adding its file to `kinds/`, its `mod` line
//! there, and one line here: nothing else counts or lists the transports.

use crate::transport::endpoint::Endpoint;
use crate::transport::kinds;
use crate::transport::names::{ChannelName, PosixObject};
use crate::transport::spec::{ChannelRun, TransportKind};

/// Every transport, in the order in which they run and print: a transport's one line.
pub const TRANSPORTS: &[TransportKind] = &[
    kinds::shm_posix::KIND,
    kinds::zmq_ipc::KIND,
    kinds::unix_stream::KIND,
    kinds::shm_spin::KIND,
    kinds::zmq_tcp::KIND,
    kinds::mqueue::KIND,
    kinds::shm_zc::KIND,
    kinds::pipe::KIND,
    kinds::tcp::KIND,
    kinds::ipc_channel::KIND,
    kinds::interprocess::KIND,
    kinds::iceoryx2::KIND,
    kinds::tokio_unix::KIND,
    kinds::tokio_unix::MULTI_THREAD_KIND,
    kinds::tokio_tcp::KIND,
    kinds::tokio_tcp::MULTI_THREAD_KIND,
    kinds::grpc_uds::KIND,
];

/// What runs without `--transports`: the seed benchmark's pair (a choice, not a count).
pub const DEFAULT_TRANSPORTS: &[TransportKind] = &[kinds::shm_posix::KIND, kinds::zmq_ipc::KIND];

impl TransportKind {
    /// Every transport, in the registry's order.
    pub fn all() -> &'static [TransportKind] {
        TRANSPORTS
    }

    pub fn from_name(name: &str) -> Option<TransportKind> {
        Self::all().iter().copied().find(|kind| kind.name() == name)
    }
}

/// The names a mistyped transport name probably meant, closest first, at most three: those a
/// letter or two away (`shm-posx`, `iceoryx`) and those it is part of (`shm`, `zmq`, `unix`).
pub fn names_like(typed: &str) -> Vec<&'static str> {
    let typed = typed.trim().to_ascii_lowercase();
    let mut close: Vec<(usize, &'static str)> = (TRANSPORTS.iter())
        .map(|kind| (strsim::levenshtein(&typed, kind.name()), kind.name()))
        .filter(|&(distance, name)| distance <= 2 || (typed.len() >= 3 && name.contains(&typed)))
        .collect();
    close.sort_by_key(|&(distance, _)| distance);
    close.into_iter().take(3).map(|(_, name)| name).collect()
}

/// " (did you mean shm-posix?)" after an unknown name, or nothing when no name is close.
pub fn did_you_mean(typed: &str) -> String {
    match names_like(typed).as_slice() {
        [] => String::new(),
        [one] => format!(" (did you mean {one}?)"),
        [first @ .., last] => format!(" (did you mean {} or {last}?)", first.join(", ")),
    }
}

/// The names of the transports that take a spin budget, for messages.
pub fn spinning_transport_names() -> Vec<&'static str> {
    TRANSPORTS
        .iter()
        .filter(|kind| kind.spins())
        .map(|kind| kind.name())
        .collect()
}

/// The default spin budget of each transport that spins, for `--spin-budget`'s help, grouped
/// by budget in the registry's order: `0 for shm-posix, 20us for shm-spin, shm-zc and iceoryx2`.
pub fn spin_budget_defaults() -> String {
    let mut groups: Vec<(std::time::Duration, Vec<&str>)> = Vec::new();
    for kind in TRANSPORTS {
        let Some(budget) = kind.spin_budget(None) else {
            continue;
        };
        match groups.iter_mut().find(|(each, _)| *each == budget) {
            Some((_, names)) => names.push(kind.name()),
            None => groups.push((budget, vec![kind.name()])),
        }
    }
    let said: Vec<String> = (groups.iter())
        .map(|(budget, names)| {
            // As `--spin-budget` takes it: 0, else whole microseconds where it is that.
            let budget = match (budget.as_nanos(), budget.as_nanos() % 1000) {
                (0, _) => "0".to_string(),
                (nanos, 0) => format!("{}us", nanos / 1000),
                (nanos, _) => format!("{nanos}ns"),
            };
            format!("{budget} for {}", and_list(names))
        })
        .collect();
    said.join(", ")
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [only] => only.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Every object any transport may create for `channel`.
pub fn channel_objects(channel: &ChannelName) -> Vec<PosixObject> {
    TRANSPORTS
        .iter()
        .flat_map(|kind| kind.channel_objects(channel))
        .collect()
}

/// Unlinks every object of `channel` that exists, whichever transport made it; returns the
/// names it removed.
pub fn unlink_channel_objects(channel: &ChannelName) -> Vec<String> {
    let mut removed: Vec<String> = channel_objects(channel)
        .into_iter()
        .filter(PosixObject::unlink)
        .map(|object| object.name().to_string())
        .collect();
    // Whoever unlinks every object of the channel says that its processes have ended, or make
    // nothing new of it (a server whose driver is gone, removing what it made).
    removed.extend(remove_dead_own_objects(channel, ChannelRun::Over));
    removed
}

/// Removes what processes no longer running left of `channel` among the objects transports
/// name themselves (which no channel name tells); returns what it removed, for people.
pub fn remove_dead_own_objects(channel: &ChannelName, run: ChannelRun) -> Vec<String> {
    TRANSPORTS
        .iter()
        .flat_map(|kind| kind.remove_dead_own_objects(channel, run))
        .collect()
}

/// [`remove_dead_own_objects`] on every channel that has objects a transport names itself:
/// `cleanup` without a channel cannot tell those channels from their names otherwise.
/// `run_of` says what the caller knows of the run that made each channel.
pub fn remove_every_dead_own_object(run_of: &dyn Fn(&ChannelName) -> ChannelRun) -> Vec<String> {
    let mut removed = Vec::new();
    for kind in TRANSPORTS {
        for channel in kind.channels_with_own_objects() {
            removed.extend(kind.remove_dead_own_objects(&channel, run_of(&channel)));
        }
    }
    removed
}

/// Whether `name`, in `/dev/shm`, is an object a transport names itself and judges itself
/// (see [`OwnObjects::names_in_shm`](crate::transport::OwnObjects)).
pub fn named_by_a_transport_itself(name: &str) -> bool {
    TRANSPORTS.iter().any(|kind| kind.names_in_shm(name))
}

/// What is planted among the objects transports name themselves, of `channel` or (None) of
/// every channel that has such objects; `cleanup` leaves those channels alone and says why.
pub fn planted_own_objects(channel: Option<&ChannelName>) -> Vec<String> {
    let mut planted = Vec::new();
    for kind in TRANSPORTS {
        match channel {
            Some(channel) => planted.extend(kind.planted_own_objects(channel)),
            None => {
                for channel in kind.channels_with_own_objects() {
                    planted.extend(kind.planted_own_objects(&channel));
                }
            }
        }
    }
    planted
}

impl Endpoint {
    /// Removes whatever a server that died without cleaning up left at this endpoint.
    /// Returns the names of the objects it removed.
    pub fn remove_leftovers(&self) -> Vec<String> {
        match self {
            Endpoint::ShmChannel { channel, .. } => match ChannelName::new(channel) {
                Ok(channel) => unlink_channel_objects(&channel),
                // No transport creates objects for a name it refuses.
                Err(_) => Vec::new(),
            },
            Endpoint::SocketFile { path, .. } => match std::fs::remove_file(path) {
                Ok(()) => vec![path.display().to_string()],
                Err(_) => Vec::new(),
            },
            // A listening socket ends with its process, and pipes with their last holder;
            // nothing stays behind.
            Endpoint::Tcp { .. } | Endpoint::Pipes { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_or_partial_name_is_matched_to_the_names_it_probably_meant() {
        assert_eq!(names_like("shm-posx"), ["shm-posix"]);
        assert_eq!(names_like("ICEORYX"), ["iceoryx2"]);
        let mut unix = names_like("unix");
        unix.sort_unstable();
        assert_eq!(unix, ["tokio-unix", "tokio-unix-mt", "unix-stream"]);
        let mut zmq = names_like("zmq");
        zmq.sort_unstable();
        assert_eq!(zmq, ["zmq-ipc", "zmq-tcp"]);
        assert!(names_like("carrier-pigeon").is_empty());
        assert_eq!(did_you_mean("tpc"), " (did you mean tcp?)");
        assert_eq!(did_you_mean("uds"), " (did you mean grpc-uds?)");
        assert_eq!(did_you_mean("grpc"), " (did you mean grpc-uds?)");
        assert_eq!(did_you_mean("ud"), "");
    }

    /// Every transport that spins is in the help's defaults once, with its own budget.
    #[test]
    fn the_spin_budget_defaults_name_every_spinning_transport_with_its_budget() {
        let defaults = spin_budget_defaults();
        assert!(
            defaults.starts_with("0 for shm-posix, 20us for shm-spin"),
            "{defaults}"
        );
        for kind in TRANSPORTS {
            let named = defaults
                .split([',', ' '])
                .filter(|word| *word == kind.name())
                .count();
            assert_eq!(named, usize::from(kind.spins()), "{kind:?}: {defaults}");
        }
    }

    #[test]
    fn and_list_joins_the_last_with_and() {
        assert_eq!(and_list(&["a"]), "a");
        assert_eq!(and_list(&["a", "b"]), "a and b");
        assert_eq!(and_list(&["a", "b", "c"]), "a, b and c");
    }
}

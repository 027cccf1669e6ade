//! Header fields: the ordered raw list ([`Headers`]) and typed views decoded on demand
//! (Via, From/To/Contact/Route as [`NameAddr`], CSeq, …).

mod access;
mod list;
mod name;
mod name_addr;
mod params;
pub(crate) mod scan;
pub(crate) mod values;
mod via;

pub use access::ListValues;
pub(crate) use list::{Entry, Slot, Text};
pub use list::{HeaderField, HeaderValue, Headers};
pub use name::HeaderName;
pub use name_addr::{Contact, NameAddr};
pub use params::{ParamIter, Params};
pub use scan::unquote;
pub use values::{CSeq, Event, MediaType, RAck, Refresher, Replaces, SessionExpires, SubscriptionState, tokens};
pub use via::{RPort, Transport, Via, ViaSpec};

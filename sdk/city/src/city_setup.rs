//! The city's skeleton in the tree, with the ACLs that make the workflows safe: each registered
//! agency may only add alerts to its own inbox (and the fan-out checks that it speaks only for
//! the senders it is registered for), each registered shelter writes only its own report, each
//! plugin writes only its own subtrees, and everyone may read the rest.

use polis_client::{Acl, Client, CreateMode, Id, Perms};
use polis_plugin_layout::plugin_identity;

use crate::city_plugins::{ESCALATION, FANOUT, SHELTERS};
use crate::error::CityError;
use crate::sample_city::CityAccess;

/// Where the city lives.
pub const ROOT: &str = "/city";

/// Everything for whoever creates the node (the administrator), `others` for everyone.
fn acl(others: Perms, plugins: &[&str]) -> Vec<Acl> {
    let mut acl = vec![
        Acl::new(Perms::ALL, Id::new(Id::SCHEME_AUTH, "")),
        Acl::new(others, Id::anyone()),
    ];
    acl.extend(
        plugins
            .iter()
            .map(|plugin| Acl::new(Perms::ALL, plugin_identity(plugin))),
    );
    acl
}

/// Creates a node unless it exists (a second setup of the same tree is a no-op).
async fn create(client: &Client, path: &str, data: &[u8], acl: &[Acl]) -> Result<(), CityError> {
    match client.create(path, data, acl, CreateMode::Persistent).await {
        Ok(_) => Ok(()),
        Err(error) if error.is_node_exists() => Ok(()),
        Err(error) => Err(CityError::client(path)(error)),
    }
}

/// Lays out `/city` and registers `districts` (name, registry entry as JSON), the agencies that
/// may publish alerts and the shelters that report their occupancy (`access`). Run as an
/// administrator.
pub async fn set_up_city(
    admin: &Client,
    districts: &[(String, String)],
    access: &CityAccess,
) -> Result<(), CityError> {
    let agencies = &access.agencies;
    let read = Perms::READ;
    let add = Perms(Perms::READ.0 | Perms::CREATE.0);
    create(admin, ROOT, b"", &acl(read, &[])).await?;
    create(admin, &format!("{ROOT}/alerts"), b"", &acl(read, &[])).await?;
    // Nobody but an administrator adds to the inbox itself: each agency has its own folder in
    // it, where only its identity may create (a 2018-Hawaii-style false alert needs a stolen
    // agency certificate, not merely access to the network).
    create(admin, &format!("{ROOT}/alerts/inbox"), b"", &acl(read, &[])).await?;
    create(admin, &format!("{ROOT}/agencies"), b"", &acl(read, &[])).await?;
    for agency in agencies {
        create(
            admin,
            &format!("{ROOT}/agencies/{}", agency.name),
            agency.registry_entry().as_bytes(),
            &acl(read, &[]),
        )
        .await?;
        let mut inbox_acl = acl(read, &[]);
        inbox_acl.push(Acl::new(add, Id::new(Id::SCHEME_X509, &agency.identity)));
        create(
            admin,
            &format!("{ROOT}/alerts/inbox/{}", agency.name),
            b"",
            &inbox_acl,
        )
        .await?;
    }
    for dir in ["rejected", "duplicates", "keys", "state"] {
        create(
            admin,
            &format!("{ROOT}/alerts/{dir}"),
            b"",
            &acl(read, &[FANOUT]),
        )
        .await?;
    }
    for dir in ["acks", "pending"] {
        create(
            admin,
            &format!("{ROOT}/alerts/{dir}"),
            b"",
            &acl(read, &[ESCALATION]),
        )
        .await?;
    }
    for dir in ["notifications", "exercises"] {
        create(admin, &format!("{ROOT}/{dir}"), b"", &acl(read, &[FANOUT])).await?;
    }
    create(
        admin,
        &format!("{ROOT}/escalations"),
        b"",
        &acl(read, &[ESCALATION]),
    )
    .await?;
    create(
        admin,
        &format!("{ROOT}/capacity"),
        b"",
        &acl(read, &[SHELTERS]),
    )
    .await?;
    for shelter in &access.shelters {
        shelter.validate(districts)?;
    }
    create(admin, &format!("{ROOT}/shelters"), b"", &acl(read, &[])).await?;
    create(admin, &format!("{ROOT}/districts"), b"", &acl(read, &[])).await?;
    for (name, entry) in districts {
        create(
            admin,
            &format!("{ROOT}/districts/{name}"),
            entry.as_bytes(),
            &acl(read, &[]),
        )
        .await?;
        // Only an administrator adds a shelter to a district: a shelter that is not registered
        // has no report to write (see `Shelter`).
        create(
            admin,
            &format!("{ROOT}/shelters/{name}"),
            b"",
            &acl(read, &[]),
        )
        .await?;
    }
    // Each registered shelter's report exists from the start, empty until the shelter reports
    // (the capacity plugin lists it as not reported yet), so that writing it takes only the
    // shelter's own WRITE permission.
    for shelter in &access.shelters {
        create(admin, &shelter.path(), b"", &shelter.report_acl()).await?;
    }
    Ok(())
}

/// Publishes a CAP document as `/city/alerts/inbox/<agency>/<id>`, readable by all (a Public
/// alert; for Restricted ones pass the ACL naming who may read it, which must include the
/// fan-out). `client` must hold `agency`'s identity.
pub async fn publish(
    client: &Client,
    agency: &str,
    id: &str,
    document: &str,
    acl: Option<&[Acl]>,
) -> Result<polis_client::Stat, CityError> {
    let path = format!("{ROOT}/alerts/inbox/{agency}/{id}");
    let public = [
        Acl::new(Perms::READ, Id::anyone()),
        Acl::new(Perms::ALL, Id::new(Id::SCHEME_AUTH, "")),
    ];
    let acl = acl.unwrap_or(&public);
    client
        .create(&path, document.as_bytes(), acl, CreateMode::Persistent)
        .await
        .map_err(CityError::client(&path))?;
    let (_, stat) = client
        .get_data(&path)
        .await
        .map_err(CityError::client(&path))?;
    Ok(stat)
}

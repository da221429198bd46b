//! The free-subnet search against a view of 100k NADs: with room beside the migration network, and
//! with the private blocks nearly full, where it has to pass every claim.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ipnet::IpNet;
use mignet::{
    policy::view::{NadEntry, NadName, View},
    policy::{
        Policy,
        free::{Wanted, free_subnets},
    },
};

fn nad(name: String, net: IpNet) -> NadEntry {
    NadEntry {
        key: NadName::new("tenant", &name),
        ranges: [net].into_iter().collect(),
        migration_label: None,
        flagged: false,
        config: None,
        owner: None,
    }
}

fn v4(addr: u32, prefix: u8) -> IpNet {
    IpNet::new_assert(std::net::Ipv4Addr::from(addr).into(), prefix)
}

fn bench(c: &mut Criterion) {
    let policy = Policy::default();
    let migration = v4(0xC0A8_6300, 24); // 192.168.99.0/24
    // 100k tenant /27s over 10.64.0.0/10, as the load bench lays them out, plus the migration network
    let mut roomy = View::new();
    for i in 0..100_000u32 {
        roomy.upsert_nad(nad(format!("t{i}"), v4(0x0A40_0000 + (i << 5), 27)));
    }
    roomy.upsert_nad(nad("migration".into(), migration));
    c.bench_function("free_subnets/100k_nads_room_beside", |b| {
        b.iter(|| black_box(free_subnets(&policy, &roomy, &Wanted::like(&migration, 3))))
    });
    // 192.168/16 and 172.16/12 full of /24s and 10/8 full but for its last /24: 69,888 claims passed
    let mut full = View::new();
    let mut n = 0;
    for (base, count) in [(0xC0A8_0000u32, 256u32), (0xAC10_0000, 4096), (0x0A00_0000, 65_535)] {
        for i in 0..count {
            full.upsert_nad(nad(format!("f{n}"), v4(base + (i << 8), 24)));
            n += 1;
        }
    }
    for i in 0..30_000u32 {
        full.upsert_nad(nad(
            format!("fd{i}"),
            IpNet::new_assert(
                std::net::Ipv6Addr::from((0xfd20u128 << 112) | (u128::from(i) << 64)).into(),
                64,
            ),
        ));
    }
    c.bench_function("free_subnets/100k_nads_nearly_full", |b| {
        b.iter(|| black_box(free_subnets(&policy, &full, &Wanted::like(&migration, 3))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

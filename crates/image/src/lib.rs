//! berth-image: references, content store, layers, snapshotter, archive formats.

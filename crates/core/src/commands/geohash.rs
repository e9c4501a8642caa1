//! The geohash Redis stores GEO positions with: longitude and latitude interleaved into a
//! 52-bit integer (26 bits each, latitude on the even bits) that is the member's sorted-set
//! score, over Redis's latitude range (±85.05112878, the Web Mercator limits). The search
//! helpers cover a radius or box with the centre cell and its eight neighbours at a step
//! (precision) chosen from the radius, as Redis does, so a search finds the same members and
//! reports the same distances and coordinates to the digit.

pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;

/// Earth's quadratic mean radius for WGS-84, in meters (Redis's constant).
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;

/// A cell: the interleaved bits of its position and how many bits per coordinate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bits {
    pub bits: u64,
    pub step: u8,
}

impl Bits {
    fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The cell as a 52-bit score prefix (the smallest score inside it).
    pub fn align52(&self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

#[derive(Clone, Copy, Debug)]
pub struct Area {
    pub lon: Range,
    pub lat: Range,
}

const LON_RANGE: Range = Range {
    min: LON_MIN,
    max: LON_MAX,
};
const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// The ranges of the standard geohash (GEOHASH's strings): latitude over ±90.
pub const STANDARD: (Range, Range) = (
    Range {
        min: -180.0,
        max: 180.0,
    },
    Range {
        min: -90.0,
        max: 90.0,
    },
);

/// Spreads the low 32 bits of `x` over the even bits and those of `y` over the odd bits.
fn interleave(x: u32, y: u32) -> u64 {
    fn spread(v: u32) -> u64 {
        let mut v = u64::from(v);
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    }
    spread(x) | (spread(y) << 1)
}

/// The inverse of [`interleave`]: the even bits in the low half, the odd bits in the high.
fn deinterleave(v: u64) -> u64 {
    fn squash(mut v: u64) -> u64 {
        v &= 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        (v | (v >> 16)) & 0x0000_0000_FFFF_FFFF
    }
    squash(v) | (squash(v >> 1) << 32)
}

/// Whether a position can be stored (Redis's limits).
pub fn valid(lon: f64, lat: f64) -> bool {
    (LON_MIN..=LON_MAX).contains(&lon) && (LAT_MIN..=LAT_MAX).contains(&lat)
}

/// The cell of `step` bits per coordinate holding a position, over the given ranges.
pub fn encode_in(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<Bits> {
    if step == 0 || step > 32 || !valid(lon, lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_r.min) / (lat_r.max - lat_r.min) * scale;
    let lon_offset = (lon - lon_r.min) / (lon_r.max - lon_r.min) * scale;
    Some(Bits {
        bits: interleave(lat_offset as u32, lon_offset as u32),
        step,
    })
}

/// The cell holding a position over Redis's ranges.
pub fn encode(lon: f64, lat: f64, step: u8) -> Option<Bits> {
    encode_in(LON_RANGE, LAT_RANGE, lon, lat, step)
}

/// The score a position is stored with.
pub fn score_of(lon: f64, lat: f64) -> Option<u64> {
    encode(lon, lat, STEP_MAX).map(|b| b.align52())
}

/// The area a cell covers.
pub fn decode(hash: Bits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let sep = deinterleave(hash.bits);
    let (ilat, ilon) = (sep as u32, (sep >> 32) as u32);
    let cells = (1u64 << hash.step) as f64;
    let lat_scale = LAT_MAX - LAT_MIN;
    let lon_scale = LON_MAX - LON_MIN;
    Some(Area {
        lat: Range {
            min: LAT_MIN + (f64::from(ilat) / cells) * lat_scale,
            max: LAT_MIN + ((f64::from(ilat) + 1.0) / cells) * lat_scale,
        },
        lon: Range {
            min: LON_MIN + (f64::from(ilon) / cells) * lon_scale,
            max: LON_MIN + ((f64::from(ilon) + 1.0) / cells) * lon_scale,
        },
    })
}

/// The position a score stands for: the centre of its cell, as (longitude, latitude).
pub fn decode_score(score: f64) -> Option<(f64, f64)> {
    // As C's conversion of the double to an unsigned integer (scores of GEOADD are exact).
    let area = decode(Bits {
        bits: score as u64,
        step: STEP_MAX,
    })?;
    let lon = ((area.lon.min + area.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((area.lat.min + area.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    Some((lon, lat))
}

/// The 11-character standard geohash string of a stored score (GEOHASH).
pub fn standard_string(score: f64) -> Option<String> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score)?;
    let hash = encode_in(STANDARD.0, STANDARD.1, lon, lat, STEP_MAX)?;
    Some(
        (0..11)
            .map(|i| {
                // 52 bits give ten characters; the eleventh is taken as zero (as Redis).
                let idx = if i == 10 {
                    0
                } else {
                    (hash.bits >> (52 - (i + 1) * 5)) & 0x1f
                };
                ALPHABET[idx as usize] as char
            })
            .collect(),
    )
}

fn move_x(hash: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let width = 64 - u32::from(hash.step) * 2;
    let mut x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> width;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> width;
    hash.bits = x | y;
}

fn move_y(hash: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let width = 64 - u32::from(hash.step) * 2;
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> width;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64 >> width;
    hash.bits = x | y;
}

fn moved(hash: Bits, dx: i8, dy: i8) -> Bits {
    let mut h = hash;
    move_x(&mut h, dx);
    move_y(&mut h, dy);
    h
}

/// The eight neighbours of a cell, in Redis's search order after the cell itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct Neighbors {
    pub north: Bits,
    pub south: Bits,
    pub east: Bits,
    pub west: Bits,
    pub north_east: Bits,
    pub north_west: Bits,
    pub south_east: Bits,
    pub south_west: Bits,
}

fn neighbors(hash: Bits) -> Neighbors {
    Neighbors {
        east: moved(hash, 1, 0),
        west: moved(hash, -1, 0),
        south: moved(hash, 0, -1),
        north: moved(hash, 0, 1),
        north_west: moved(hash, -1, 1),
        north_east: moved(hash, 1, 1),
        south_east: moved(hash, 1, -1),
        south_west: moved(hash, -1, -1),
    }
}

fn deg_rad(a: f64) -> f64 {
    a * (std::f64::consts::PI / 180.0)
}

fn rad_deg(a: f64) -> f64 {
    a / (std::f64::consts::PI / 180.0)
}

/// Great-circle distance in meters (haversine, Redis's earth radius).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (lat1r, lon1r, lat2r, lon2r) = (deg_rad(lat1), deg_rad(lon1), deg_rad(lat2), deg_rad(lon2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let v = ((lon2r - lon1r) / 2.0).sin();
    2.0 * EARTH_RADIUS_IN_METERS * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

/// What a search covers.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// Within `radius` of the centre.
    Radius(f64),
    /// Within an axis-aligned box of this width and height centred on the centre.
    Box { width: f64, height: f64 },
}

/// A search: centre (longitude, latitude), shape in `unit`s, meters per unit.
#[derive(Clone, Copy, Debug)]
pub struct Search {
    pub lon: f64,
    pub lat: f64,
    pub shape: Shape,
    pub conversion: f64,
}

impl Search {
    /// The distance (meters) from the centre to a point inside the shape, `None` outside.
    pub fn admits(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.shape {
            Shape::Radius(r) => {
                let d = distance(self.lon, self.lat, lon, lat);
                (d <= r * self.conversion).then_some(d)
            }
            Shape::Box { width, height } => {
                let (w, h) = (width * self.conversion, height * self.conversion);
                let lon_distance = distance(lon, lat, self.lon, lat);
                let lat_distance = distance(lon, lat, lon, self.lat);
                if lon_distance > w / 2.0 || lat_distance > h / 2.0 {
                    return None;
                }
                Some(distance(self.lon, self.lat, lon, lat))
            }
        }
    }

    /// The bounding box of the shape: (min lon, min lat, max lon, max lat).
    fn bounds(&self) -> [f64; 4] {
        let (height, width) = match self.shape {
            Shape::Radius(r) => (r, r),
            Shape::Box { width, height } => (height / 2.0, width / 2.0),
        };
        let (height, width) = (height * self.conversion, width * self.conversion);
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let lon_delta_top =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat + lat_delta).cos());
        let lon_delta_bottom =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.lat - lat_delta).cos());
        let southern = self.lat < 0.0;
        let lon_delta = if southern {
            lon_delta_bottom
        } else {
            lon_delta_top
        };
        [
            self.lon - lon_delta,
            self.lat - lat_delta,
            self.lon + lon_delta,
            self.lat + lat_delta,
        ]
    }

    /// The cells to scan, in Redis's order (the centre's cell, then N, S, E, W, NE, NW, SE,
    /// SW), with cells that cannot hold a match and repeats of the previous one left out.
    pub fn cells(&self) -> Vec<Bits> {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounds();
        let radius = match self.shape {
            Shape::Radius(r) => r,
            Shape::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        } * self.conversion;
        let mut steps = estimate_steps(radius, self.lat);
        let at = |steps: u8| {
            let hash = encode(self.lon, self.lat, steps).unwrap_or_default();
            (hash, neighbors(hash), decode(hash))
        };
        let (mut hash, mut n, mut area) = at(steps);
        let decrease = {
            let north = decode(n.north);
            let south = decode(n.south);
            let east = decode(n.east);
            let west = decode(n.west);
            north.is_some_and(|a| a.lat.max < max_lat)
                || south.is_some_and(|a| a.lat.min > min_lat)
                || east.is_some_and(|a| a.lon.max < max_lon)
                || west.is_some_and(|a| a.lon.min > min_lon)
        };
        if steps > 1 && decrease {
            steps -= 1;
            (hash, n, area) = at(steps);
        }
        if steps >= 2 {
            if let Some(area) = area {
                let zero = Bits::default();
                if area.lat.min < min_lat {
                    (n.south, n.south_west, n.south_east) = (zero, zero, zero);
                }
                if area.lat.max > max_lat {
                    (n.north, n.north_east, n.north_west) = (zero, zero, zero);
                }
                if area.lon.min < min_lon {
                    (n.west, n.south_west, n.north_west) = (zero, zero, zero);
                }
                if area.lon.max > max_lon {
                    (n.east, n.south_east, n.north_east) = (zero, zero, zero);
                }
            }
        }
        let all = [
            hash,
            n.north,
            n.south,
            n.east,
            n.west,
            n.north_east,
            n.north_west,
            n.south_east,
            n.south_west,
        ];
        let mut out: Vec<Bits> = Vec::with_capacity(9);
        // Huge radii make neighbours repeat: a cell equal to the last one scanned is skipped
        // (as in Redis, not when that one is the centre's cell).
        let mut last = 0usize;
        for (i, c) in all.iter().enumerate() {
            if c.is_zero() || (last != 0 && *c == all[last]) {
                continue;
            }
            out.push(*c);
            last = i;
        }
        out
    }
}

/// The step (bits per coordinate) of the nine cells a search of `range_meters` scans.
fn estimate_steps(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// The scores of a cell's members: `min <= score < max`.
pub fn score_range(cell: Bits) -> (u64, u64) {
    let min = cell.align52();
    let max = Bits {
        bits: cell.bits + 1,
        step: cell.step,
    }
    .align52();
    (min, max)
}

/// A coordinate as Redis prints one (`%.17Lf`, trailing zeros dropped).
pub fn human(v: f64) -> String {
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 0x155_5555),
            (12345, 67890),
        ] {
            let v = deinterleave(interleave(x, y));
            assert_eq!((v as u32, (v >> 32) as u32), (x, y));
        }
    }

    #[test]
    fn scores_and_positions_match_redis() {
        // Values read from redis-server 7.0 (GEOADD then ZSCORE / GEOPOS / GEOHASH).
        let s = score_of(13.361389, 38.115556).unwrap();
        assert_eq!(s, 3479099956230698);
        let (lon, lat) = decode_score(s as f64).unwrap();
        assert_eq!(human(lon), "13.36138933897018433");
        assert_eq!(human(lat), "38.11555639549629859");
        assert_eq!(standard_string(s as f64).unwrap(), "sqc8b49rny0");
        let p = score_of(15.087269, 37.502669).unwrap();
        let (lon2, lat2) = decode_score(p as f64).unwrap();
        assert_eq!(
            format!("{:.4}", distance(lon, lat, lon2, lat2)),
            "166274.1516"
        );
    }

    #[test]
    fn limits() {
        assert!(score_of(180.0, 85.05112878).is_some());
        assert!(score_of(180.000001, 0.0).is_none());
        assert!(score_of(0.0, -85.06).is_none());
        assert_eq!(human(-0.0), "0");
        assert_eq!(human(2.5), "2.5");
        assert_eq!(human(3.0), "3");
    }

    #[test]
    fn huge_radius_cells_do_not_repeat() {
        let s = Search {
            lon: 0.0,
            lat: 0.0,
            shape: Shape::Radius(20_000_000.0),
            conversion: 1.0,
        };
        let cells = s.cells();
        assert!(!cells.is_empty());
        for w in cells.windows(2) {
            assert_ne!(w[0], w[1]);
        }
    }
}

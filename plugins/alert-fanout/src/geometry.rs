//! Plane geometry on CAP coordinates: point-in-polygon, segment intersection, polygon–polygon
//! and circle–polygon overlap.
//!
//! CAP gives WGS 84 "latitude,longitude" pairs and circle radii in kilometres. A city spans a few
//! tens of kilometres, so every test projects the shapes onto a local plane around one reference
//! point (equirectangular): the error is far below the precision of an alert's polygon, and the
//! code stays free of spherical trigonometry.

use thiserror::Error;

/// Kilometres per degree of latitude (mean).
const KILOMETRES_PER_DEGREE: f64 = 111.195;
/// The fewest coordinate pairs of a CAP polygon (a triangle, closed by repeating the first).
pub const POLYGON_PAIRS_MIN: usize = 4;
/// The most coordinate pairs a polygon may have: bounds the work of one intersection test.
pub const POLYGON_PAIRS_MAX: usize = 1_000;

/// A WGS 84 position in degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub latitude_degrees: f64,
    pub longitude_degrees: f64,
}

/// A closed ring of points: the first equals the last.
#[derive(Clone, Debug, PartialEq)]
pub struct Polygon {
    pub points: Vec<Point>,
}

/// A circle: its centre and radius.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Circle {
    pub centre: Point,
    pub radius_km: f64,
}

/// Why a CAP `polygon` or `circle` string is not a shape.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ShapeError {
    #[error("{0:?} is not a \"latitude,longitude\" pair")]
    BadPair(String),
    #[error("coordinate {0:?} is out of range")]
    OutOfRange(String),
    #[error("a polygon needs at least {POLYGON_PAIRS_MIN} pairs, this one has {0}")]
    TooFewPairs(usize),
    #[error("a polygon may have at most {POLYGON_PAIRS_MAX} pairs, this one has {0}")]
    TooManyPairs(usize),
    #[error("the polygon is not closed: its first pair differs from its last")]
    NotClosed,
    #[error("a circle is \"latitude,longitude radius\", not {0:?}")]
    BadCircle(String),
    #[error("the circle's radius {0:?} is not a positive number of kilometres")]
    BadRadius(String),
}

fn parse_point(pair: &str) -> Result<Point, ShapeError> {
    let (latitude, longitude) = pair
        .split_once(',')
        .ok_or_else(|| ShapeError::BadPair(pair.to_string()))?;
    let latitude_degrees: f64 = latitude
        .trim()
        .parse()
        .map_err(|_| ShapeError::BadPair(pair.to_string()))?;
    let longitude_degrees: f64 = longitude
        .trim()
        .parse()
        .map_err(|_| ShapeError::BadPair(pair.to_string()))?;
    if !(-90.0..=90.0).contains(&latitude_degrees) || !(-180.0..=180.0).contains(&longitude_degrees)
    {
        return Err(ShapeError::OutOfRange(pair.to_string()));
    }
    Ok(Point {
        latitude_degrees,
        longitude_degrees,
    })
}

impl Polygon {
    /// Parses CAP's `polygon`: whitespace-separated "lat,lon" pairs, closed, at least four.
    pub fn parse(text: &str) -> Result<Polygon, ShapeError> {
        let pairs: Vec<&str> = text.split_whitespace().collect();
        if pairs.len() < POLYGON_PAIRS_MIN {
            return Err(ShapeError::TooFewPairs(pairs.len()));
        }
        if pairs.len() > POLYGON_PAIRS_MAX {
            return Err(ShapeError::TooManyPairs(pairs.len()));
        }
        let points = pairs
            .into_iter()
            .map(parse_point)
            .collect::<Result<Vec<_>, _>>()?;
        if points.first() != points.last() {
            return Err(ShapeError::NotClosed);
        }
        Ok(Polygon { points })
    }

    /// The ring's edges.
    fn edges(&self) -> impl Iterator<Item = (Point, Point)> + '_ {
        self.points.windows(2).map(|pair| (pair[0], pair[1]))
    }

    /// True if `point` is inside the ring or on its boundary (even–odd rule).
    pub fn contains(&self, point: Point) -> bool {
        let origin = point;
        let p = project(origin, point);
        let mut inside = false;
        for (a, b) in self.edges() {
            let (a, b) = (project(origin, a), project(origin, b));
            if on_segment(a, b, p) {
                return true;
            }
            if (a.1 > p.1) != (b.1 > p.1) {
                let crossing_x = a.0 + (p.1 - a.1) * (b.0 - a.0) / (b.1 - a.1);
                if p.0 < crossing_x {
                    inside = !inside;
                }
            }
        }
        inside
    }

    /// True if the two areas share a point: an edge of one crosses an edge of the other, or one
    /// lies wholly inside the other.
    pub fn intersects(&self, other: &Polygon) -> bool {
        let origin = self.points[0];
        for (a, b) in self.edges() {
            let (a, b) = (project(origin, a), project(origin, b));
            for (c, d) in other.edges() {
                if segments_intersect(a, b, project(origin, c), project(origin, d)) {
                    return true;
                }
            }
        }
        self.contains(other.points[0]) || other.contains(self.points[0])
    }

    /// True if the circle and the area share a point.
    pub fn intersects_circle(&self, circle: &Circle) -> bool {
        if self.contains(circle.centre) {
            return true;
        }
        let centre = (0.0, 0.0);
        self.edges().any(|(a, b)| {
            let (a, b) = (project(circle.centre, a), project(circle.centre, b));
            distance_to_segment_km(centre, a, b) <= circle.radius_km
        })
    }
}

impl Circle {
    /// Parses CAP's `circle`: "lat,lon radius" with the radius in kilometres.
    pub fn parse(text: &str) -> Result<Circle, ShapeError> {
        let mut parts = text.split_whitespace();
        let (Some(centre), Some(radius), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ShapeError::BadCircle(text.to_string()));
        };
        let centre = parse_point(centre)?;
        let radius_km: f64 = radius
            .parse()
            .map_err(|_| ShapeError::BadRadius(radius.to_string()))?;
        if !(radius_km.is_finite() && radius_km > 0.0) {
            return Err(ShapeError::BadRadius(radius.to_string()));
        }
        Ok(Circle { centre, radius_km })
    }
}

/// `point` on a plane tangent at `origin`, in kilometres (x east, y north).
fn project(origin: Point, point: Point) -> (f64, f64) {
    let x = (point.longitude_degrees - origin.longitude_degrees)
        * KILOMETRES_PER_DEGREE
        * origin.latitude_degrees.to_radians().cos();
    let y = (point.latitude_degrees - origin.latitude_degrees) * KILOMETRES_PER_DEGREE;
    (x, y)
}

fn cross(o: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

/// How close to zero a cross product must be for three points to count as collinear: a square
/// metre, far below any alert's precision.
const COLLINEAR_KM2: f64 = 1e-6;

fn on_segment(a: (f64, f64), b: (f64, f64), p: (f64, f64)) -> bool {
    cross(a, b, p).abs() <= COLLINEAR_KM2
        && p.0 >= a.0.min(b.0) - 1e-9
        && p.0 <= a.0.max(b.0) + 1e-9
        && p.1 >= a.1.min(b.1) - 1e-9
        && p.1 <= a.1.max(b.1) + 1e-9
}

/// True if segment ab and segment cd share a point (touching counts).
pub(crate) fn segments_intersect(
    a: (f64, f64),
    b: (f64, f64),
    c: (f64, f64),
    d: (f64, f64),
) -> bool {
    let d1 = cross(c, d, a);
    let d2 = cross(c, d, b);
    let d3 = cross(a, b, c);
    let d4 = cross(a, b, d);
    if ((d1 > COLLINEAR_KM2 && d2 < -COLLINEAR_KM2) || (d1 < -COLLINEAR_KM2 && d2 > COLLINEAR_KM2))
        && ((d3 > COLLINEAR_KM2 && d4 < -COLLINEAR_KM2)
            || (d3 < -COLLINEAR_KM2 && d4 > COLLINEAR_KM2))
    {
        return true;
    }
    on_segment(c, d, a) || on_segment(c, d, b) || on_segment(a, b, c) || on_segment(a, b, d)
}

fn distance_to_segment_km(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let length_squared = dx * dx + dy * dy;
    let t = if length_squared == 0.0 {
        0.0
    } else {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / length_squared).clamp(0.0, 1.0)
    };
    let (x, y) = (a.0 + t * dx - p.0, a.1 + t * dy - p.1);
    (x * x + y * y).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A square about 11 km on a side, south-west corner at (38.0, -122.0).
    fn square() -> Polygon {
        Polygon::parse("38.0,-122.0 38.1,-122.0 38.1,-121.9 38.0,-121.9 38.0,-122.0").unwrap()
    }

    fn point(latitude_degrees: f64, longitude_degrees: f64) -> Point {
        Point {
            latitude_degrees,
            longitude_degrees,
        }
    }

    #[test]
    fn a_polygon_must_be_closed_and_have_four_pairs() {
        assert_eq!(
            Polygon::parse("38.0,-122.0 38.1,-122.0 38.0,-122.0"),
            Err(ShapeError::TooFewPairs(3))
        );
        assert_eq!(
            Polygon::parse("38.0,-122.0 38.1,-122.0 38.1,-121.9 38.0,-121.9"),
            Err(ShapeError::NotClosed)
        );
        assert!(matches!(
            Polygon::parse("38.0;-122.0 38.1,-122.0 38.1,-121.9 38.0;-122.0"),
            Err(ShapeError::BadPair(_))
        ));
        assert!(matches!(
            Polygon::parse("98.0,-122.0 38.1,-122.0 38.1,-121.9 98.0,-122.0"),
            Err(ShapeError::OutOfRange(_))
        ));
    }

    #[test]
    fn points_inside_on_the_edge_and_outside_are_told_apart() {
        let square = square();
        assert!(square.contains(point(38.05, -121.95)));
        assert!(square.contains(point(38.0, -121.95)), "on an edge");
        assert!(square.contains(point(38.1, -121.9)), "a corner");
        assert!(!square.contains(point(38.2, -121.95)));
        assert!(!square.contains(point(38.05, -121.8)));
    }

    #[test]
    fn a_concave_polygon_excludes_its_notch() {
        // A "U": the notch at the top middle is outside.
        let u = Polygon::parse(
            "0.0,0.0 0.0,3.0 3.0,3.0 3.0,2.0 1.0,2.0 1.0,1.0 3.0,1.0 3.0,0.0 0.0,0.0",
        )
        .unwrap();
        assert!(u.contains(point(0.5, 1.5)));
        assert!(!u.contains(point(2.0, 1.5)));
        assert!(u.contains(point(2.0, 0.5)));
    }

    #[test]
    fn segments_that_cross_touch_or_miss_are_told_apart() {
        assert!(segments_intersect(
            (0.0, 0.0),
            (2.0, 2.0),
            (0.0, 2.0),
            (2.0, 0.0)
        ));
        assert!(segments_intersect(
            (0.0, 0.0),
            (2.0, 0.0),
            (2.0, 0.0),
            (3.0, 5.0)
        ));
        assert!(segments_intersect(
            (0.0, 0.0),
            (2.0, 0.0),
            (1.0, 0.0),
            (3.0, 0.0)
        ));
        assert!(!segments_intersect(
            (0.0, 0.0),
            (2.0, 0.0),
            (0.0, 1.0),
            (2.0, 1.0)
        ));
        assert!(!segments_intersect(
            (0.0, 0.0),
            (1.0, 0.0),
            (2.0, 0.0),
            (3.0, 0.0)
        ));
    }

    #[test]
    fn polygons_overlap_when_edges_cross_or_one_holds_the_other() {
        let square = square();
        let crossing =
            Polygon::parse("38.05,-121.95 38.15,-121.95 38.15,-121.85 38.05,-121.85 38.05,-121.95")
                .unwrap();
        let inner =
            Polygon::parse("38.04,-121.96 38.06,-121.96 38.06,-121.94 38.04,-121.94 38.04,-121.96")
                .unwrap();
        let apart =
            Polygon::parse("39.0,-122.0 39.1,-122.0 39.1,-121.9 39.0,-121.9 39.0,-122.0").unwrap();
        assert!(square.intersects(&crossing));
        assert!(square.intersects(&inner));
        assert!(inner.intersects(&square));
        assert!(!square.intersects(&apart));
    }

    #[test]
    fn a_circle_overlaps_when_its_centre_is_inside_or_its_rim_reaches_an_edge() {
        let square = square();
        let inside = Circle::parse("38.05,-121.95 0.1").unwrap();
        // 0.02 degrees of latitude north of the square: about 2.2 km from its north edge.
        let near = Circle::parse("38.12,-121.95 3").unwrap();
        let far = Circle::parse("38.12,-121.95 1").unwrap();
        assert!(square.intersects_circle(&inside));
        assert!(square.intersects_circle(&near));
        assert!(!square.intersects_circle(&far));
    }

    #[test]
    fn a_circle_needs_a_positive_radius() {
        assert!(matches!(
            Circle::parse("38.05,-121.95"),
            Err(ShapeError::BadCircle(_))
        ));
        assert!(matches!(
            Circle::parse("38.05,-121.95 0"),
            Err(ShapeError::BadRadius(_))
        ));
        assert!(matches!(
            Circle::parse("38.05,-121.95 -2"),
            Err(ShapeError::BadRadius(_))
        ));
    }
}

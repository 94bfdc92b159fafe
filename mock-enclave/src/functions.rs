//! Function registry placeholder (filled next).

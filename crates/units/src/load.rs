//! Reading configuration directories into a set of units.

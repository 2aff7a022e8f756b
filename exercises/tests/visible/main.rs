extern crate exercises as subject;

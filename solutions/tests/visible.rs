//! The visible tests of `exercises/tests/visible`, run on the reference solutions.

extern crate solutions as subject;

#[path = "../../exercises/tests/visible/ch01.rs"]
mod ch01;
#[path = "../../exercises/tests/visible/ch02.rs"]
mod ch02;
#[path = "../../exercises/tests/visible/ch03.rs"]
mod ch03;
#[path = "../../exercises/tests/visible/ch04.rs"]
mod ch04;
#[path = "../../exercises/tests/visible/ch05.rs"]
mod ch05;
#[path = "../../exercises/tests/visible/ch06.rs"]
mod ch06;
#[path = "../../exercises/tests/visible/ch07.rs"]
mod ch07;
#[path = "../../exercises/tests/visible/ch08.rs"]
mod ch08;

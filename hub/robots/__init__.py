"""Day-structure robot: message schedules, delivery to the robot, timeline and answer signals."""

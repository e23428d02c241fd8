import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ovos_skill_mycroft_mesh"))
from parsing import split_room, spoken_list  # noqa: E402  (the package itself imports OVOS)

ROOMS = ["hall", "kitchen", "living room", "living", "magic mirror"]


class SplitRoom(unittest.TestCase):
    def test_a_room_and_what_to_say(self):
        self.assertEqual(split_room("kitchen dinner is ready", ROOMS), ("kitchen", "dinner is ready"))

    def test_the_longest_room_name_wins(self):
        self.assertEqual(split_room("living room we are leaving", ROOMS), ("living room", "we are leaving"))

    def test_articles_joiners_and_case(self):
        self.assertEqual(split_room("the Magic Mirror that the bus is late", ROOMS), ("magic mirror", "the bus is late"))

    def test_no_such_room_or_nothing_to_say(self):
        self.assertIsNone(split_room("garage open the door", ROOMS))
        self.assertIsNone(split_room("kitchen", ROOMS))
        self.assertIsNone(split_room("kitchenette is warm", ROOMS))


class SpokenList(unittest.TestCase):
    def test_lists(self):
        self.assertEqual(spoken_list([]), "")
        self.assertEqual(spoken_list(["hall"]), "hall")
        self.assertEqual(spoken_list(["hall", "kitchen", "den"]), "hall, kitchen and den")


if __name__ == "__main__":
    unittest.main()

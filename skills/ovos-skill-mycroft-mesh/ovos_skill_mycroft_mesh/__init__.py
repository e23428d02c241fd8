"""Voice commands for a mycroft-mesh house, over the node's bus API (mesh.send, mesh.broadcast, mesh.ask, mesh.rooms)."""
from ovos_bus_client.message import Message
from ovos_utils import classproperty
from ovos_utils.process_utils import RuntimeRequirements
from ovos_workshop.decorators import intent_handler
from ovos_workshop.skills import OVOSSkill

from .parsing import split_room, spoken_list

ANSWER_TIMEOUT_S = 15


class MeshSkill(OVOSSkill):
    @classproperty
    def runtime_requirements(self):
        # the house is on the LAN: nothing here needs the internet, and an offline core must still load it
        return RuntimeRequirements(internet_before_load=False, network_before_load=False, gui_before_load=False,
                                   requires_internet=False, requires_network=False, requires_gui=False,
                                   no_internet_fallback=True, no_network_fallback=True, no_gui_fallback=True)

    def _request(self, message, msg_type, data):
        """Asks the mesh node on this bus; its answer, or None when no node answered in time."""
        reply = self.bus.wait_for_response(message.forward(msg_type, data), msg_type + ".response", timeout=ANSWER_TIMEOUT_S)
        return None if reply is None else reply.data

    def _rooms(self, message):
        listed = self._request(message, "mesh.rooms", {})
        return [] if listed is None else [room["name"] for room in listed.get("rooms", [])]

    def _room_and_rest(self, message):
        rooms = self._rooms(message)
        if not rooms:
            self.speak_dialog("no.mesh")
            return None
        found = split_room(message.data.get("request", ""), rooms)
        if found is None:
            self.speak_dialog("unknown.room", {"rooms": spoken_list(rooms)})
        return found

    @intent_handler("tell.intent")
    def handle_tell(self, message):
        found = self._room_and_rest(message)
        if found is None:
            return
        room, text = found
        outcome = self._request(message, "mesh.send", {"to": room, "data": {"utterance": text}})
        if outcome is not None and outcome.get("status") == "delivered":
            self.speak_dialog("told", {"room": room})
        else:
            self.speak_dialog("not.told", {"room": room})

    @intent_handler("announce.intent")
    def handle_announce(self, message):
        outcome = self._request(message, "mesh.broadcast", {"data": {"utterance": message.data.get("message", "")}})
        self.speak_dialog("announced" if outcome is not None else "no.mesh")

    @intent_handler("ask.intent")
    def handle_ask(self, message):
        found = self._room_and_rest(message)
        if found is None:
            return
        room, question = found
        outcome = self._request(message, "mesh.ask", {"to": room, "utterance": question, "lang": self.lang})
        speaks = [] if outcome is None else outcome.get("speaks", [])
        if not speaks:
            self.speak_dialog("no.answer", {"room": room})
        for speak in speaks:
            self.speak(speak.get("utterance", ""))

    @intent_handler("rooms.intent")
    def handle_rooms(self, message):
        rooms = self._rooms(message)
        if rooms:
            self.speak_dialog("rooms", {"rooms": spoken_list(rooms)})
        else:
            self.speak_dialog("no.mesh")

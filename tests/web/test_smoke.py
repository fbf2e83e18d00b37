def test_mine_lists_my_escalation(make_escalation, moderator, client_for):
    esc = make_escalation()
    response = client_for(moderator).get("/escalations/mine/")
    assert response.status_code == 200
    assert esc.key in response.content.decode()

"""Tests of the IPCom Home Anywhere Blue integration."""
